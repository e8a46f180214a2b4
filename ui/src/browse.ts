// The left pane and what feeds it: opening a profile (the users stream in),
// the search box (the catalog once synced, else the listed users' emails)
// and the catalog's status and sync.
import type { SearchHit } from "./bindings/SearchHit";
import type { UserBatch } from "./bindings/UserBatch";
import type { UserSummary } from "./bindings/UserSummary";
import { EmailSources } from "./bindings/enums";
import { h, kids } from "./dom";
import { call, channel, errorText, isCancelled } from "./ipc";
import {
  catalogBar, catalogText, convPane, empty, fail, profileLabel, results, say, search, syncButton, tasks, userList, usersBody, viewPane,
} from "./layout";
import { ago, count, filterUsers, syncDoneText, syncProgressView } from "./logic";
import { openConversation, openUser } from "./conversations";
import { catalogReady, conversationRows, state } from "./state";
import { newTaskId } from "./views/tasks";

export async function openProfile(name: string): Promise<void> {
  const generation = ++state.generation;
  say(`Opening ${name}…`);
  try {
    state.profile = await call("open_profile", { name });
  } catch (e) {
    return fail(e);
  }
  profileLabel.textContent = `${state.profile.name} · ${state.profile.bucket}${state.profile.read_only ? " · read-only" : ""}`;
  document.body.classList.toggle("read-only", state.profile.read_only);
  catalogBar.hidden = false;
  catalogText.textContent = "";
  Object.assign(state, { users: [], user: null, listing: null, conversation: null, catalog: null, hits: [] });
  empty(convPane, "Pick a user", "Choose a user on the left to see their archived conversations.");
  empty(viewPane, "No conversation open", "Open a conversation to read it.");
  userList.set([]);
  state.loadingUsers = true;
  showUsers();
  if (state.listingTask) void call("cancel_task", { task: state.listingTask });
  const listingTask = (state.listingTask = newTaskId());
  void loadCatalogStatus(generation).then(() => {
    // A catalog synced before is brought up to date in the background, so
    // search stays fresh without a click; a first sync is the person's call.
    if (generation === state.generation && state.catalog?.last_synced_at) void syncCatalog();
  });
  say("Loading users…");
  let failure: unknown = null;
  try {
    const onBatch = channel((batch: UserBatch) => {
      if (generation !== state.generation) return;
      state.users.push(...batch.users);
      renderUsers();
      say(`Loading users… ${state.users.length} so far`);
    });
    const total = await call("list_users", { task: listingTask, onBatch });
    if (generation === state.generation) say(`${total} users in ${state.profile.bucket}`, "ok");
  } catch (e) {
    failure = e;
    if (generation === state.generation && !isCancelled(e)) fail(e);
  } finally {
    if (state.listingTask === listingTask) state.listingTask = null;
  }
  if (generation !== state.generation) return;
  state.loadingUsers = false;
  if (failure && state.users.length === 0) {
    empty(usersBody, "Could not list the users", `${errorText(failure)} — check the connection in Profiles… (Test), then open the profile again.`);
  } else {
    refreshLeftPane();
  }
}

/** The left pane as the search box asks: catalog hits, or the (filtered) users. */
export function refreshLeftPane(): void {
  if (search.value.trim() && catalogReady()) {
    if (!usersBody.contains(results.el)) void runSearch(false);
  } else {
    showUsers();
  }
}

function renderUsers(): void {
  userList.set(filterUsers(state.users, catalogReady() ? "" : search.value));
}

/** The users list in the left pane (filtered by the search box while there is no catalog). */
function showUsers(): void {
  renderUsers();
  if (state.users.length === 0 && !state.loadingUsers) {
    empty(usersBody, "No users found", "This bucket has no archived conversations under the profile's prefix. Check the bucket and prefix in Profiles.");
    return;
  }
  const hint = search.value.trim() && !catalogReady()
    ? h("p", { class: "hint", text: "Searching the emails of the users below. Sync the search catalog to find conversations by title across every user." })
    : null;
  usersBody.replaceChildren(...kids(hint, userList.el));
}

// ------------------------------------------------------------- search ----
let searchTimer: number | undefined;

/** Search as the person types, once they pause. */
export function searchAsYouType(): void {
  search.addEventListener("input", () => {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(() => {
      searchTimer = undefined;
      void runSearch(false);
    }, 120);
  });
}

/** Typed faster than the pause: search now. */
export async function searchNow(): Promise<void> {
  if (searchTimer === undefined) return;
  window.clearTimeout(searchTimer);
  searchTimer = undefined;
  await runSearch(false);
}

export async function runSearch(more: boolean): Promise<void> {
  const query = search.value.trim();
  const seq = ++state.searchSeq;
  if (!state.profile) return;
  if (!query || !catalogReady()) return showUsers();
  try {
    const page = await call("search_catalog", { query, offset: more ? state.hits.length : 0, limit: 50 });
    if (seq !== state.searchSeq) return;
    state.hits = more ? [...state.hits, ...page.hits] : page.hits;
    if (!more) results.selected = 0;
    results.show(query, state.hits, page.next_offset === null ? null : () => void runSearch(true));
    if (usersBody.firstChild !== results.el) usersBody.replaceChildren(results.el);
  } catch (e) {
    if (seq === state.searchSeq) usersBody.replaceChildren(h("div", { class: "empty" }, h("h2", { text: "Search failed" }), h("p", { class: "error", text: errorText(e) })));
  }
}

/** After a delete the catalog has dropped those conversations: show results without them. */
export async function refreshSearch(): Promise<void> {
  if (usersBody.contains(results.el)) await runSearch(false);
}

export function summaryOf(folder: string, email: string | null): UserSummary {
  return (
    state.users.find((u) => u.folder === folder) ?? {
      folder, email, email_source: email ? EmailSources.Index : EmailSources.Unknown, conversation_count: 0,
      last_archived_at: null, index_missing: false, index_error: null,
    }
  );
}

export async function openHit(hit: SearchHit): Promise<void> {
  await openUser(summaryOf(hit.folder, hit.email));
  const rows = conversationRows();
  const i = rows.findIndex((r) => r.conversation_id === hit.conversation_id);
  if (!state.listing) return;
  if (i < 0) {
    empty(viewPane, "Not in the archive any more", `${hit.title ?? hit.conversation_id} is in the search catalog but no longer in this user's folder. Sync to refresh the catalog.`);
    return;
  }
  state.rowIndex = i;
  await openConversation(rows[i]);
}

async function loadCatalogStatus(generation: number): Promise<void> {
  try {
    const stats = await call("catalog_status", {});
    if (generation !== state.generation) return;
    state.catalog = stats;
    if (!state.loadingUsers) refreshLeftPane();
  } catch (e) {
    if (generation !== state.generation) return;
    state.catalog = null;
    catalogText.textContent = `Search catalog unavailable: ${errorText(e)}`;
    return;
  }
  renderCatalogBar();
}

function renderCatalogBar(): void {
  const c = state.catalog;
  syncButton.disabled = state.syncing === state.generation;
  if (!c) return;
  catalogText.textContent = c.last_synced_at || c.conversations
    ? `Catalog: ${count(c.users, "user")}, ${count(c.conversations, "conversation")} · synced ${ago(c.last_synced_at)}${c.sync_interrupted ? " · interrupted, Sync resumes it" : ""}`
    : "Search catalog not built yet: Sync to search every title and email.";
}

export async function syncCatalog(): Promise<void> {
  const generation = state.generation;
  if (!state.profile || state.syncing === generation) return;
  state.syncing = generation;
  renderCatalogBar();
  try {
    const r = await tasks.run("Syncing catalog", (task, onProgress) => call("sync_catalog", { task, onProgress: channel(onProgress) }), syncProgressView);
    if (generation === state.generation) {
      say(syncDoneText(r), "ok");
    }
  } catch (e) {
    if (generation !== state.generation) return;
    if (isCancelled(e)) say("Sync cancelled; the next sync resumes where this one stopped.");
    else fail(e);
  } finally {
    if (state.syncing === generation) state.syncing = null;
  }
  if (generation !== state.generation) return;
  await loadCatalogStatus(generation);
  renderCatalogBar();
  if (search.value.trim()) await runSearch(false);
}
