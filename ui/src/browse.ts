// The left pane and what feeds it: opening a profile (the users stream in,
// from the catalog at once once it has been synced), the search box (the
// catalog once synced, else the listed users' emails; a complete email or
// folder name also opens that user straight from the bucket) and the
// catalog's status and sync.
import type { OpenedProfile } from "./bindings/OpenedProfile";
import type { SearchHit } from "./bindings/SearchHit";
import type { UserBatch } from "./bindings/UserBatch";
import type { UserSummary } from "./bindings/UserSummary";
import { EmailSources } from "./bindings/enums";
import { h, kids } from "./dom";
import { Arrived, call, channel, errorText, hasCode, isCancelled } from "./ipc";
import {
  catalogBar, catalogText, convPane, empty, fail, profileLabel, results, say, search, syncButton, tasks, userList, usersBody, viewPane,
} from "./layout";
import { ago, count, filterUsers, namesOneUser, summaryOfListing, syncDoneText, syncProgressView, userLabel } from "./logic";
import { openConversation, openUser, showUser } from "./conversations";
import { catalogReady, conversationRows, state } from "./state";
import { newTaskId } from "./views/tasks";
import { whenIdle } from "./idle";

/** No key or click for this long before the catalog's refresh after opening a profile. */
const REFRESH_AFTER_QUIET_MS = 3000;

export async function openProfile(name: string): Promise<void> {
  const generation = ++state.generation;
  say(`Opening ${name}…`);
  let opened: OpenedProfile;
  try {
    opened = await call("open_profile", { name });
  } catch (e) {
    return fail(e);
  }
  await showProfile(generation, opened);
}

/**
 * Open the profile the app began opening at launch (the only one), in one
 * round trip; false when it opened none (no profile, or several: the page
 * then asks for the names).
 */
export async function openLaunchProfile(): Promise<boolean> {
  const generation = ++state.generation;
  const opened = await call("open_launch_profile", {});
  if (!opened) return false;
  void showProfile(generation, opened);
  return true;
}

/** The window on `opened`: its users listed, its catalog's status shown. */
async function showProfile(generation: number, opened: OpenedProfile): Promise<void> {
  if (generation !== state.generation) return;
  state.profile = opened;
  if (performance.getEntriesByName("archive-desk:profile-opened").length === 0) performance.mark("archive-desk:profile-opened");
  profileLabel.textContent = `${state.profile.name} · ${state.profile.bucket}${state.profile.read_only ? " · read-only" : ""}`;
  document.body.classList.toggle("read-only", state.profile.read_only);
  catalogBar.hidden = false;
  catalogText.textContent = "";
  Object.assign(state, { users: [], user: null, listing: null, conversation: null, catalog: null, hits: [], usersFromCatalog: null, found: null });
  // The first users, when the app had read them before the page asked.
  if (opened.users) state.users.push(...opened.users.users);
  empty(convPane, "Pick a user", "Choose a user on the left to see their archived conversations.");
  empty(viewPane, "No conversation open", "Open a conversation to read it.");
  userList.set([]);
  state.loadingUsers = true;
  showUsers();
  if (state.listingTask) void call("cancel_task", { task: state.listingTask });
  const listingTask = (state.listingTask = newTaskId());
  const catalogLoaded = loadCatalogStatus(generation);
  say("Loading users…");
  let failure: unknown = null;
  try {
    // Counted whatever the generation, so a listing left behind still ends.
    let received = 0;
    const arrived = new Arrived();
    const onBatch = channel((batch: UserBatch) => {
      received += batch.users.length;
      arrived.note(received);
      if (generation !== state.generation) return;
      state.users.push(...batch.users);
      renderUsers();
      say(`Loading users… ${state.users.length} so far`);
    });
    if (performance.getEntriesByName("archive-desk:list-users").length === 0) performance.mark("archive-desk:list-users");
    const listed = await call("list_users", { task: listingTask, onBatch });
    await arrived.reached(listed.sent);
    if (generation === state.generation) {
      state.usersFromCatalog = listed.from_catalog;
      say(usersListedText(listed.total, listed.from_catalog), "ok");
      performance.mark("archive-desk:users-listed");
    }
  } catch (e) {
    failure = e;
    if (generation === state.generation && !isCancelled(e)) fail(e);
  } finally {
    if (state.listingTask === listingTask) state.listingTask = null;
  }
  if (generation !== state.generation) return;
  state.loadingUsers = false;
  // A catalog synced before is brought up to date in the background, so
  // search stays fresh without a click (a first sync is the person's call);
  // begun once the users are listed and the person has paused, so it slows
  // neither the listing nor the look-up they opened the app for (on a
  // small machine a refresh's listings in flight cost a look-up ~1 s).
  void catalogLoaded.then(() => whenIdle(REFRESH_AFTER_QUIET_MS)).then(() => {
    if (generation === state.generation && state.catalog?.last_synced_at) void syncCatalog();
  });
  if (failure && state.users.length === 0) {
    empty(usersBody, "Could not list the users", `${errorText(failure)} — check the connection in Profiles… (Test), then open the profile again.`);
  } else {
    refreshLeftPane();
  }
}

function usersListedText(total: number, fromCatalog: string | null): string {
  const where = `${count(total, "user")} in ${state.profile?.bucket ?? ""}`;
  return fromCatalog ? `${where} (from the catalog synced ${ago(fromCatalog)})` : where;
}

/**
 * The users list again from the catalog just synced (the list shown came
 * from its previous sync): swapped in whole once read, so rows never blink.
 */
async function relistUsers(generation: number): Promise<void> {
  const users: UserSummary[] = [];
  const arrived = new Arrived();
  const task = (state.listingTask = newTaskId());
  try {
    const onBatch = channel((batch: UserBatch) => {
      users.push(...batch.users);
      arrived.note(users.length);
    });
    const listed = await call("list_users", { task, onBatch });
    // Every batch in before the list is swapped: a late one would be lost.
    await arrived.reached(listed.sent);
    if (generation !== state.generation) return;
    state.users = users;
    state.usersFromCatalog = listed.from_catalog;
    if (!usersBody.contains(results.el)) showUsers();
    performance.mark("archive-desk:users-relisted");
  } catch (e) {
    if (generation === state.generation && !isCancelled(e)) fail(e);
  } finally {
    if (state.listingTask === task) state.listingTask = null;
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
  // User Timing marks (read by the GUI benchmark, tests/e2e/tests/gui_bench.rs).
  if (state.users.length && performance.getEntriesByName(FIRST_ROW_MARK).length === 0) performance.mark(FIRST_ROW_MARK);
}

const FIRST_ROW_MARK = "archive-desk:first-user-row";

/** The users list in the left pane (filtered by the search box while there is no catalog). */
function showUsers(): void {
  renderUsers();
  if (state.users.length === 0 && !state.loadingUsers) {
    empty(usersBody, "No users found", "This bucket has no archived conversations under the profile's prefix. Check the bucket and prefix in Profiles.");
    return;
  }
  const found = foundFor(search.value.trim());
  const hint = search.value.trim() && !catalogReady()
    ? h("p", { class: "hint", text: "Searching the emails of the users below. Sync the search catalog to find conversations by title across every user." })
    : null;
  const note = found ? h("p", { class: "hint found-user", text: `${userLabel(found)}: found in the bucket and opened.` }) : null;
  usersBody.replaceChildren(...kids(note, hint, userList.el));
}

/** The user the search box's `text` names, once looked up in the bucket. */
function foundFor(text: string): UserSummary | null {
  return state.found && state.found.text === text ? state.found.user : null;
}

// ------------------------------------------------------------- search ----
/** The catalog search under way, and whether the text changed since it began. */
let searching: Promise<void> | null = null;
let searchAgain = false;

/**
 * Search as the person types: the catalog answers each keystroke (one
 * search at a time; text typed meanwhile is searched next, only the latest),
 * and a complete email or folder name is looked up in the bucket at once
 * and its user opened (a look-up is one round trip; only the newest is shown).
 */
export function searchAsYouType(): void {
  search.addEventListener("input", () => {
    searchLatest();
    void lookUp(search.value.trim());
  });
}

function searchLatest(): void {
  if (searching) {
    searchAgain = true;
    return;
  }
  searching = runSearch(false).finally(() => {
    searching = null;
    if (searchAgain) {
      searchAgain = false;
      searchLatest();
    }
  });
}

/** Enter or ArrowDown in the search box: finish the search of what is typed now. */
export async function searchNow(): Promise<void> {
  while (searching) await searching;
}

/**
 * Open the user `text` names exactly, read from the bucket now: found
 * whether or not the users list has finished or the catalog is up to date.
 */
async function lookUp(text: string): Promise<void> {
  const seq = ++state.lookupSeq;
  if (!state.profile || !namesOneUser(text)) return;
  const generation = state.generation;
  try {
    const listing = await call("look_up_user", { text });
    if (seq !== state.lookupSeq || generation !== state.generation) return;
    const u = state.users.find((x) => x.folder === listing.folder) ?? summaryOfListing(listing);
    showUser(u, listing);
    state.found = { text, user: u };
    // The left pane says so too (the catalog may not know this user yet).
    if (usersBody.contains(results.el)) void runSearch(false);
    else if (!catalogReady()) showUsers();
    say(`${userLabel(u)}: ${count(u.conversation_count, "conversation")}, read from the bucket now`, "ok");
  } catch (e) {
    if (seq !== state.lookupSeq || generation !== state.generation) return;
    if (hasCode(e, "not_found")) say(`No user ${text} in ${state.profile.bucket}`);
    else fail(e);
  }
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
    if (!more) state.emptyUsers = page.users_without_conversations;
    results.show(query, state.hits, page.next_offset === null ? null : () => void runSearch(true), state.emptyUsers, foundFor(query));
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
  if (state.usersFromCatalog !== null && !state.loadingUsers) await relistUsers(generation);
  if (search.value.trim()) await runSearch(false);
}
