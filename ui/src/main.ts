import type { ConversationRow } from "./bindings/ConversationRow";
import type { CatalogStats } from "./bindings/CatalogStats";
import type { ConversationView } from "./bindings/ConversationView";
import type { ExportFormat } from "./bindings/ExportFormat";
import type { OpenedProfile } from "./bindings/OpenedProfile";
import type { SearchHit } from "./bindings/SearchHit";
import type { ThawTier } from "./bindings/ThawTier";
import type { UserConversations } from "./bindings/UserConversations";
import type { UserSummary } from "./bindings/UserSummary";
import { clear, day, h, kids, when } from "./dom";
import { errorText, ipc, isCancelled, isErrorReport } from "./ipc";
import {
  ago,
  bytes,
  count,
  deleteReportLines,
  exportFileName,
  exportProgressView,
  filterUsers,
  isCold,
  moveSelection,
  rowNotes,
  sortRows,
  syncProgressView,
  userLabel,
  type SortKey,
} from "./logic";
import { AUDIT_ACTIONS, auditDamagedText, auditVerificationLines, auditVerified } from "./views/audit";
import { confirmDanger, modal } from "./views/dialog";
import { manageProfiles } from "./views/profiles";
import { SearchResults } from "./views/search";
import { newTaskId, TaskBar } from "./views/tasks";
import { renderRaw, renderTranscript } from "./views/transcript";
import { UserList } from "./views/users";

const state = {
  profile: null as OpenedProfile | null,
  users: [] as UserSummary[],
  loadingUsers: false,
  user: null as UserSummary | null,
  listing: null as UserConversations | null,
  sort: { key: "archived_at" as SortKey, ascending: false },
  checked: new Set<string>(),
  rowIndex: 0,
  conversation: null as ConversationView | null,
  tab: "transcript" as "transcript" | "raw",
  generation: 0,
  catalog: null as CatalogStats | null,
  /** The profile generation whose catalog is syncing, if any. */
  syncing: null as number | null,
  hits: [] as SearchHit[],
  /** The users listing under way, cancelled when another profile opens. */
  listingTask: null as string | null,
  searchSeq: 0,
};

// ------------------------------------------------------------- layout ----
const search = h("input", { type: "search", id: "search", placeholder: "Search emails and titles  ( / )", "aria-label": "Search emails and titles" });
const profileButton = h("button", { id: "profiles", text: "Profiles…", onclick: () => manageProfiles(openProfile) });
const profileLabel = h("span", { class: "profile-label", text: "No profile open" });
const auditButton = h("button", { id: "audit-log", text: "Audit log", onclick: () => showAudit() });
const status = h("div", { id: "status", class: "status", role: "status", "aria-live": "polite" });
const usersPane = h("section", { class: "pane users-pane", "aria-label": "Users" });
const convPane = h("section", { class: "pane conv-pane", "aria-label": "Conversations" });
const viewPane = h("section", { class: "pane view-pane", "aria-label": "Conversation" });
const userList = new UserList((u) => openUser(u));
const results = new SearchResults(
  (folder, email) => openUser(summaryOf(folder, email)),
  (hit) => openHit(hit),
);
const tasks = new TaskBar();
const catalogText = h("span", { class: "meta", id: "catalog-status" });
const syncButton = h("button", { id: "sync", class: "small", text: "Sync", title: "Bring the search catalog up to date with the bucket", onclick: () => syncCatalog() });
const catalogBar = h("div", { class: "catalog-bar" }, catalogText, syncButton);
const usersBody = h("div", { class: "users-body" });
catalogBar.hidden = true;
usersPane.append(catalogBar, usersBody);

document.getElementById("app")!.append(
  h("header", { class: "topbar" }, h("strong", { class: "brand", text: "Archive Desk" }), profileLabel, profileButton, search, auditButton),
  h("main", { class: "panes" }, usersPane, convPane, viewPane),
  h("footer", { class: "footer" }, status, tasks.el),
);

function say(text: string, kind: "info" | "error" | "ok" = "info"): void {
  status.className = `status ${kind}`;
  status.textContent = text;
}

/** A finished irreversible action; with a warning when its audit outcome is missing. */
function sayDone(text: string, auditWarning?: string): void {
  if (auditWarning) say(`${text}. Warning: ${auditWarning}`, "error");
  else say(text, "ok");
}

function fail(e: unknown): void {
  say(errorText(e), "error");
}

function empty(pane: HTMLElement, title: string, hint: string): void {
  pane.replaceChildren(h("div", { class: "empty" }, h("h2", { text: title }), h("p", { text: hint })));
}

// ------------------------------------------------------------ profile ----
async function openProfile(name: string): Promise<void> {
  const generation = ++state.generation;
  say(`Opening ${name}…`);
  try {
    state.profile = await ipc.openProfile(name);
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
  if (state.listingTask) void ipc.cancelTask(state.listingTask);
  const listingTask = (state.listingTask = newTaskId());
  void loadCatalogStatus(generation).then(() => {
    // A catalog synced before is brought up to date in the background, so
    // search stays fresh without a click; a first sync is the person's call.
    if (generation === state.generation && state.catalog?.last_synced_at) void syncCatalog();
  });
  say("Loading users…");
  let failure: unknown = null;
  try {
    const total = await ipc.listUsers(listingTask, (batch) => {
      if (generation !== state.generation) return;
      state.users.push(...batch.users);
      renderUsers();
      say(`Loading users… ${state.users.length} so far`);
    });
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
function refreshLeftPane(): void {
  if (search.value.trim() && catalogReady()) {
    if (!usersBody.contains(results.el)) void runSearch(false);
  } else {
    showUsers();
  }
}

/** Search goes to the catalog once it has been synced; before that it filters the listed users by email. */
function catalogReady(): boolean {
  return (state.catalog?.conversations ?? 0) > 0;
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
search.addEventListener("input", () => {
  window.clearTimeout(searchTimer);
  searchTimer = window.setTimeout(() => {
    searchTimer = undefined;
    void runSearch(false);
  }, 120);
});

async function runSearch(more: boolean): Promise<void> {
  const query = search.value.trim();
  const seq = ++state.searchSeq;
  if (!state.profile) return;
  if (!query || !catalogReady()) return showUsers();
  try {
    const page = await ipc.searchCatalog(query, more ? state.hits.length : 0, 50);
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
async function refreshSearch(): Promise<void> {
  if (usersBody.contains(results.el)) await runSearch(false);
}

function summaryOf(folder: string, email: string | null): UserSummary {
  return (
    state.users.find((u) => u.folder === folder) ?? {
      folder, email, email_source: email ? "index" : "unknown", conversation_count: 0,
      last_archived_at: null, index_missing: false, index_error: null,
    }
  );
}

async function openHit(hit: SearchHit): Promise<void> {
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
    const stats = await ipc.catalogStatus();
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

async function syncCatalog(): Promise<void> {
  const generation = state.generation;
  if (!state.profile || state.syncing === generation) return;
  state.syncing = generation;
  renderCatalogBar();
  try {
    const r = await tasks.run("Syncing catalog", (task, onProgress) => ipc.syncCatalog(task, onProgress), syncProgressView);
    if (generation === state.generation) {
      say(`Catalog synced: ${count(r.users, "user")}, ${count(r.conversations, "conversation")}; ${count(r.indexes_fetched, "index")} fetched in ${(r.elapsed_ms / 1000).toFixed(1)} s`, "ok");
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

// -------------------------------------------------------------- users ----
async function openUser(u: UserSummary): Promise<void> {
  state.user = u;
  state.listing = null;
  state.checked.clear();
  state.rowIndex = 0;
  convPane.replaceChildren(h("p", { class: "loading", text: `Loading ${userLabel(u)}…` }));
  try {
    state.listing = await ipc.userConversations(u.folder);
  } catch (e) {
    empty(convPane, "Could not load this user", errorText(e));
    return;
  }
  renderConversations();
  if (state.listing.index_error) say(`metadata.json unreadable: ${state.listing.index_error.message}`, "error");
}

function conversationRows(): ConversationRow[] {
  return state.listing ? sortRows(state.listing.conversations, state.sort.key, state.sort.ascending) : [];
}

function renderConversations(): void {
  const listing = state.listing;
  if (!listing || !state.user) return;
  const rows = conversationRows();
  const header = (label: string, key: SortKey) =>
    h("th", {
      scope: "col",
      class: state.sort.key === key ? `sorted ${state.sort.ascending ? "asc" : "desc"}` : "",
      "aria-sort": state.sort.key === key ? (state.sort.ascending ? "ascending" : "descending") : "none",
      onclick: () => {
        state.sort = { key, ascending: state.sort.key === key ? !state.sort.ascending : true };
        renderConversations();
      },
      text: label,
    });
  const body = h("tbody");
  rows.forEach((r, i) => {
    const box = h("input", { type: "checkbox", "aria-label": `Select ${r.conversation_id}` });
    box.checked = state.checked.has(r.conversation_id);
    box.addEventListener("change", () => {
      if (box.checked) state.checked.add(r.conversation_id);
      else state.checked.delete(r.conversation_id);
      renderActions();
    });
    const notes = rowNotes(r);
    body.append(
      h(
        "tr",
        {
          class: `${i === state.rowIndex ? "selected" : ""}${isCold(r) ? " cold" : ""}${r.held || r.hold_unknown ? " held" : ""}`,
          "data-id": r.conversation_id,
          onclick: (e: Event) => {
            if ((e.target as HTMLElement).tagName === "INPUT") return;
            state.rowIndex = i;
            openConversation(r);
          },
        },
        h("td", {}, box),
        h("td", { class: "title", text: r.title ?? r.conversation_id, title: r.conversation_id }),
        h("td", { class: "date", text: day(r.created_at), title: r.created_at ?? "" }),
        h("td", { class: "date", text: day(r.archived_at), title: r.archived_at ?? "" }),
        h("td", { class: "num", text: r.message_count === null ? "—" : String(r.message_count) }),
        h("td", {}, h("span", { class: `badge ${isCold(r) ? "cold" : ""}`, text: r.storage_class ?? "—" })),
        h("td", { class: "note", text: notes }),
      ),
    );
  });
  const table = h(
    "table",
    { class: "conversations", tabindex: "0", "aria-label": "Conversations" },
    h("thead", {}, h("tr", {}, h("th", { text: "" }), header("Title", "title"), header("Created", "created_at"), header("Archived", "archived_at"), header("Messages", "message_count"), header("Storage", "storage_class"), h("th", { text: "" }))),
    body,
  );
  convPane.replaceChildren(
    h("div", { class: "pane-head" }, h("h2", { text: userLabel(listing) }), h("span", { class: "meta", text: `${rows.length} conversation(s)${listing.index_missing ? " · no metadata.json" : ""}` })),
    h("div", { class: "actions", id: "user-actions" }),
    rows.length ? table : h("div", { class: "empty" }, h("p", { text: "No conversations archived for this user." })),
  );
  renderActions();
}

function renderActions(): void {
  const bar = document.getElementById("user-actions");
  if (!bar || !state.user) return;
  const user = state.user;
  const ro = state.profile?.read_only ?? true;
  const n = state.checked.size;
  bar.replaceChildren(
    ...kids(
      h("button", { id: "export-user", text: "Export all…", title: "Every conversation of this user in one file", onclick: () => exportAll(user.folder) }),
      h("button", { text: "Verify", onclick: () => verify(user.folder) }),
      ro ? null : h("button", { text: "Verify & repair", onclick: () => repair(user.folder) }),
      ro || n === 0 ? null : h("button", { class: "danger", text: `Delete ${n} permanently…`, onclick: () => deleteChecked() }),
    ),
  );
}

// ------------------------------------------------------- conversation ----
async function openConversation(r: ConversationRow): Promise<void> {
  if (!state.user) return;
  renderConversationsSelection();
  viewPane.replaceChildren(h("p", { class: "loading", text: "Opening…" }));
  if (isCold(r)) return renderCold(r);
  try {
    state.conversation = await ipc.openConversation(state.user.folder, r.conversation_id);
  } catch (e) {
    // Cold whatever the listed class (an INTELLIGENT_TIERING archive tier shows only on reading).
    if (isErrorReport(e) && e.code === "cold_storage") return renderCold(r);
    viewPane.replaceChildren(h("div", { class: "empty" }, h("h2", { text: "Cannot open this conversation" }), h("p", { class: "error", text: errorText(e) })));
    return;
  }
  renderConversation();
}

function renderConversationsSelection(): void {
  convPane.querySelectorAll("tbody tr").forEach((tr, i) => tr.classList.toggle("selected", i === state.rowIndex));
}

/** A label for every thaw tier (the type makes a new tier need one), in menu order. */
const THAW_TIER_LABELS: Record<ThawTier, string> = { standard: "Standard", bulk: "Bulk", expedited: "Expedited" };
const THAW_TIERS = Object.keys(THAW_TIER_LABELS) as ThawTier[];

function renderCold(r: ConversationRow): void {
  const user = state.user!;
  const days = h("input", { type: "number", min: "1", max: "365", value: "7", "aria-label": "Days" });
  const tier = h("select", { "aria-label": "Tier" }, ...THAW_TIERS.map((t) => h("option", { value: t, text: THAW_TIER_LABELS[t] })));
  const result = h("p", { role: "status" });
  const show = (s: Awaited<ReturnType<typeof ipc.coldStatus>>) => {
    result.textContent =
      s.state === "frozen" ? "In cold storage; no restore requested."
      : s.state === "restoring" ? "Restore in progress. Check again later."
      : s.state === "available" ? `Restored; readable until ${s.until ?? "—"}.`
      : "Readable now.";
  };
  viewPane.replaceChildren(
    h("div", { class: "empty" },
      h("h2", { text: `In ${r.storage_class}${isCold(r) ? "" : " (archive tier)"}` }),
      h("p", { text: "This conversation was moved to cold storage by a lifecycle rule. Request a restore, then open it when it is available." }),
      state.profile?.read_only ? null : h("div", { class: "row" }, h("label", {}, "Days ", days), h("label", {}, "Tier ", tier),
        h("button", { text: "Request restore", onclick: async () => { try { show(await ipc.thaw(user.folder, r.conversation_id, Number(days.value), tier.value as ThawTier)); } catch (e) { result.textContent = errorText(e); } } })),
      h("button", { text: "Check status", onclick: async () => { try { const s = await ipc.coldStatus(user.folder, r.conversation_id); show(s); if (s.state === "available" || s.state === "warm") await openWarm(r); } catch (e) { result.textContent = errorText(e); } } }),
      result,
    ),
  );
}

async function openWarm(r: ConversationRow): Promise<void> {
  state.conversation = await ipc.openConversation(state.user!.folder, r.conversation_id);
  renderConversation();
}

function renderConversation(): void {
  const c = state.conversation;
  if (!c || !state.user) return;
  const user = state.user;
  const tab = (id: "transcript" | "raw", label: string) =>
    h("button", { role: "tab", "aria-selected": state.tab === id ? "true" : "false", class: state.tab === id ? "tab active" : "tab", text: label, onclick: () => { state.tab = id; renderConversation(); } });
  const ro = state.profile?.read_only ?? true;
  viewPane.replaceChildren(
    h("div", { class: "pane-head" },
      h("h2", { class: "conv-title", text: c.title ?? c.id }),
      h("span", { class: "meta", text: `${c.messages.length} messages · created ${when(c.created_at)} · archived ${when(c.archived_at)} · ${c.encoding}` }),
    ),
    h("div", { class: "actions" },
      ro || !state.profile?.can_restore ? null : h("button", { id: "restore", class: "primary", text: "Restore to Supabase", onclick: () => restore(user.folder, c.id) }),
      h("button", { id: "export", text: "Export JSON…", onclick: () => exportOne(user.folder, c.id) }),
      ro ? null : h("button", { class: "danger", text: "Delete permanently…", onclick: () => deleteIds([c.id]) }),
    ),
    h("div", { class: "tabs", role: "tablist" }, tab("transcript", "Transcript"), tab("raw", "Raw JSON")),
    state.tab === "transcript" ? renderTranscript(c) : renderRaw(c),
  );
}

// ------------------------------------------------------------ actions ----
async function restore(user: string, id: string): Promise<void> {
  const remove = h("input", { type: "checkbox" });
  const allow = h("input", { type: "checkbox" });
  const choice = await modal("Restore to Supabase", h("div", {},
    h("p", { text: `Restore conversation ${id} (its row, then its messages). Rows already there are left alone.` }),
    h("label", { class: "check" }, allow, " Restore even if the tables lack some archive fields (they are listed)"),
    h("label", { class: "check" }, remove, " Then remove it from the archive (after the restore is verified)"),
  ), [{ label: "Cancel", value: "cancel" }, { label: "Restore", value: "ok" }]);
  if (choice !== "ok") return;
  try {
    // No progress to show: the task bar gives it a row with Cancel.
    const r = await tasks.run(`Restoring ${id}`, (task) => ipc.restore(user, id, allow.checked, remove.checked, task), () => ({ text: "restoring…", fraction: null }));
    const dropped = [...r.dropped_fields.conversations.map((f) => `conversations.${f}`), ...r.dropped_fields.messages.map((f) => `messages.${f}`)];
    await modal("Restore done", h("div", { class: "report", id: "restore-report" },
      h("p", { text: `Conversation: ${r.conversation_inserted ? "inserted" : "already present"}` }),
      h("p", { text: `Messages: ${r.messages_inserted} inserted, ${r.messages_already_present} already present (${r.messages_in_table} in the table)` }),
      dropped.length ? h("p", { text: `Not restored (the tables lack them): ${dropped.join(", ")}` }) : null,
      h("p", { text: `Verified: ${r.verified ? "yes" : "NO"} · ${r.target}${r.atomic ? ", one transaction" : ""} · ${r.duration_ms} ms` }),
      r.differences_count > 0 ? h("p", { text: `Differences between the archive and the tables (${r.differences_count}):` }) : null,
      ...r.differences.map((d) => h("p", { class: "difference", text: `• ${d.table}.${d.field} of row ${d.row_id}: archive ${clip(JSON.stringify(d.archive))}, table ${clip(JSON.stringify(d.target))}` })),
      r.differences_count > r.differences.length ? h("p", { text: `…and ${r.differences_count - r.differences.length} more` }) : null,
      r.removed_from_archive ? h("p", { text: `Removed from the archive: ${r.removed_from_archive.deleted_keys.join(", ")}` }) : null,
      ...(r.removed_from_archive?.warnings ?? []).map((w) => h("p", { class: "error", text: `Warning: ${w}` })),
    ), [{ label: "Close", value: "ok" }]);
    sayDone(`Restored ${id}`, r.audit_warning);
    if (r.removed_from_archive && state.user) {
      await openUser(state.user);
      await refreshSearch();
    }
  } catch (e) {
    if (isCancelled(e)) say(`Restore of ${id} cancelled; nothing was written.`);
    else fail(e);
  }
}

/** At most 200 characters of a value (a message can be long). */
function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

async function exportOne(user: string, id: string): Promise<void> {
  try {
    const file = await ipc.chooseFile("export_conversation", `${id}.json`);
    if (!file) return;
    const r = await ipc.exportConversation(user, id, file.token, file.name.endsWith(".gz"));
    say(`Exported ${r.messages} messages to ${r.path}`, "ok");
  } catch (e) {
    fail(e);
  }
}

async function exportAll(folder: string): Promise<void> {
  const label = state.listing?.email ?? folder;
  const format = h("select", { "aria-label": "Format" },
    h("option", { value: "json", text: "One JSON document" }),
    h("option", { value: "json_lines", text: "JSON Lines (one conversation per line)" }));
  const gzip = h("input", { type: "checkbox" });
  const choice = await modal("Export all conversations", h("div", {},
    h("p", { text: `Every archived conversation of ${label}, as stored (all fields kept), in one file.` }),
    h("label", { class: "field" }, "Format", format),
    h("label", { class: "check" }, gzip, " Compress with gzip"),
  ), [{ label: "Cancel", value: "cancel" }, { label: "Choose file…", value: "ok" }]);
  if (choice !== "ok") return;
  const fmt = format.value as ExportFormat;
  try {
    const file = await ipc.chooseFile("export_user", exportFileName(folder, fmt, gzip.checked));
    if (!file) return;
    const r = await tasks.run(`Exporting ${label}`, (task, onProgress) => ipc.exportUser(folder, file.token, fmt, gzip.checked || file.name.endsWith(".gz"), task, onProgress), exportProgressView);
    say(`Exported ${count(r.conversations, "conversation")} (${count(r.messages, "message")}, ${bytes(r.json_bytes)} of JSON) to ${r.path}${r.skipped.length ? `; ${r.skipped.length} skipped` : ""}`, r.skipped.length ? "error" : "ok");
    if (r.skipped.length) {
      await modal("Some conversations were not exported", h("div", { id: "export-skipped" },
        h("p", { text: "These are listed for the user but could not be read; the file has everything else:" }),
        ...r.skipped.map((k) => h("p", { text: `• ${k.conversation_id}: ${k.error.message}` }))),
      [{ label: "Close", value: "ok" }]);
    }
  } catch (e) {
    if (isCancelled(e)) say("Export cancelled; no file was written.");
    else fail(e);
  }
}

async function deleteChecked(): Promise<void> {
  await deleteIds([...state.checked]);
}

async function deleteIds(ids: string[]): Promise<void> {
  if (!state.user || !state.listing) return;
  const email = state.listing.email ?? state.user.folder;
  const titles = ids.map((id) => {
    const row = state.listing!.conversations.find((r) => r.conversation_id === id);
    // A held object makes the whole delete refused: say so before it is tried.
    const hold = row?.held
      ? ` — held (${row.held}): the delete will be refused`
      : row?.hold_unknown
        ? " — hold unknown: the delete is refused if its lock state cannot be read"
        : "";
    return `${row?.title ?? id}${hold}`;
  });
  const ok = await confirmDanger(
    `Delete ${ids.length} conversation(s) permanently`,
    ["This removes every stored version and the index entries. It cannot be undone:", ...titles.map((t) => `• ${t}`)],
    ids.length > 1 ? email : undefined,
  );
  if (!ok) return;
  try {
    const r = await ipc.deleteConversations(state.user.folder, ids);
    const lines = deleteReportLines(r);
    if (r.audit_warning) say(`${lines[0]}. Warning: ${r.audit_warning}`, "error");
    else say(lines[0], r.warnings.length ? "error" : "ok");
    state.conversation = null;
    viewPane.replaceChildren(
      h("div", { class: "empty report", id: "delete-report" },
        h("h2", { text: "Deleted" }),
        ...lines.map((l) => h("p", { class: l.startsWith("Warning: ") ? "error" : "", text: l })),
      ),
    );
    await openUser(state.user);
    await refreshSearch();
  } catch (e) {
    fail(e);
  }
}

async function verify(user: string): Promise<void> {
  try {
    const v = await ipc.verifyUser(user);
    const lines = [
      `Index: ${v.index_state}; ${v.objects_checked} object(s) read`,
      ...v.dangling_entries.map((id) => `Index entry without object: ${id}`),
      ...v.unindexed_objects.map((u) => `Object not in the index: ${u.key}`),
      ...v.unreadable_objects.map((u) => `Unreadable: ${u.error.message}`),
      ...v.duplicate_entries.map((id) => `Duplicate index entry: ${id}`),
      ...v.cold_objects.map((k) => `In cold storage (not read): ${k}`),
    ];
    await modal(lines.length === 1 ? "All good" : "Integrity check", h("div", {}, ...lines.map((l) => h("p", { text: l }))), [{ label: "Close", value: "ok" }]);
  } catch (e) {
    fail(e);
  }
}

async function repair(user: string): Promise<void> {
  try {
    const r = await ipc.repairUser(user);
    sayDone(`Repaired: ${r.entries_removed} dangling removed, ${r.duplicates_removed} duplicates removed, ${r.entries_added} entries added${r.left_alone.length ? `; left alone: ${r.left_alone.join(", ")}` : ""}`, r.audit_warning);
    if (state.user) await openUser(state.user);
  } catch (e) {
    fail(e);
  }
}

async function showAudit(): Promise<void> {
  const user = h("input", { type: "text", placeholder: "user email", "aria-label": "User" });
  const action = h("select", { "aria-label": "Action" }, h("option", { value: "", text: "any action" }), ...AUDIT_ACTIONS.map((a) => h("option", { value: a, text: a })));
  const table = h("tbody");
  const damaged = h("p", { class: "error", id: "audit-damaged" });
  const verdict = h("div", { class: "report", id: "audit-verify" });
  const load = async () => {
    clear(table);
    damaged.textContent = "";
    try {
      const read = await ipc.readAudit({ user: user.value || null, action: action.value || null, since: null });
      if (read.damaged_lines > 0) damaged.textContent = auditDamagedText(read.damaged_lines);
      if (read.records.length === 0) table.append(h("tr", {}, h("td", { colspan: "5", text: "Nothing recorded yet." })));
      for (const r of read.records) {
        table.append(h("tr", {}, h("td", { text: when(r.time) }), h("td", { text: r.action }), h("td", { text: r.outcome + (r.error_code ? ` (${r.error_code})` : "") }), h("td", { text: r.user_email ?? r.user_folder ?? "—" }), h("td", { text: r.conversation_ids.join(", ") })));
      }
    } catch (e) {
      table.append(h("tr", {}, h("td", { colspan: "5", class: "error", text: errorText(e) })));
    }
  };
  const verifyLog = async () => {
    clear(verdict);
    try {
      const v = await ipc.verifyAudit();
      verdict.className = auditVerified(v) ? "report" : "report error";
      verdict.append(...auditVerificationLines(v).map((l) => h("p", { text: l })));
    } catch (e) {
      verdict.append(h("p", { class: "error", text: errorText(e) }));
    }
  };
  user.addEventListener("change", load);
  action.addEventListener("change", load);
  await load();
  const verifyButton = h("button", { id: "verify-log", text: "Verify log", onclick: () => void verifyLog() });
  await modal("Audit log", h("div", { class: "audit" }, h("div", { class: "row" }, user, action, verifyButton), verdict, damaged, h("table", {}, h("thead", {}, h("tr", {}, ...["When", "Action", "Outcome", "User", "Conversations"].map((t) => h("th", { text: t })))), table)), [{ label: "Close", value: "ok" }]);
}

// ----------------------------------------------------------- keyboard ----
document.addEventListener("keydown", (e) => {
  if (document.querySelector("dialog[open]")) return;
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (e.key === "/" && !typing) {
    e.preventDefault();
    search.focus();
    return;
  }
  if (e.target === search && (e.key === "ArrowDown" || e.key === "Enter")) {
    e.preventDefault();
    const enter = e.key === "Enter";
    void (async () => {
      // Typed faster than the debounce: search now, then move on.
      if (searchTimer !== undefined) {
        window.clearTimeout(searchTimer);
        searchTimer = undefined;
        await runSearch(false);
      }
      const showing = usersBody.contains(results.el);
      (showing ? results.el : userList.el).focus();
      if (enter && showing && results.current) await openHit(results.current);
    })();
    return;
  }
  if (e.key === "Escape") {
    if (e.target === search && search.value) {
      search.value = "";
      void runSearch(false);
    } else if (typing) (e.target as HTMLElement).blur();
    else if (state.conversation) {
      state.conversation = null;
      empty(viewPane, "No conversation open", "Open a conversation to read it.");
      convPane.querySelector<HTMLElement>("table")?.focus();
    } else (usersBody.contains(results.el) ? results.el : userList.el).focus();
    return;
  }
  if (typing) return;
  const inConversations = convPane.contains(document.activeElement);
  if (inConversations) {
    const rows = conversationRows();
    const next = moveSelection(state.rowIndex, e.key, rows.length);
    if (next !== null) {
      e.preventDefault();
      state.rowIndex = next;
      renderConversationsSelection();
      convPane.querySelectorAll("tbody tr")[next]?.scrollIntoView({ block: "nearest" });
    } else if (e.key === "Enter" && rows[state.rowIndex]) {
      openConversation(rows[state.rowIndex]);
    }
    return;
  }
  if (results.el.contains(document.activeElement)) {
    const next = moveSelection(results.selected, e.key, results.length);
    if (next !== null) {
      e.preventDefault();
      results.select(next);
    } else if (e.key === "Enter" && results.current) {
      void openHit(results.current);
    }
    return;
  }
  const next = moveSelection(userList.selected, e.key, userList.length);
  if (next !== null) {
    e.preventDefault();
    userList.select(next);
  } else if (e.key === "Enter" && userList.current) {
    openUser(userList.current).then(() => convPane.querySelector<HTMLElement>("table")?.focus());
  }
});

// -------------------------------------------------------------- start ----
empty(usersBody, "Welcome", "Open a profile to browse its archive: Profiles… (add one, or import the archiver's .env).");
empty(convPane, "", "");
empty(viewPane, "", "");
ipc
  .listProfiles()
  .then((profiles) => {
    const wanted = new URLSearchParams(window.location.search).get("profile");
    const pick = profiles.find((p) => p.name === wanted) ?? (profiles.length === 1 ? profiles[0] : undefined);
    if (pick) openProfile(pick.name);
    else if (profiles.length === 0) manageProfiles(openProfile);
  })
  .catch(fail);
