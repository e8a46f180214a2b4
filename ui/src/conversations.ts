// The middle and right panes: a user's conversations (sortable, with
// checkboxes for a delete or restore of several, and whether each is in
// Supabase now when the profile has a restore target) and the open conversation (transcript
// or raw JSON, with its actions; the cold view when it cannot be read yet).
import type { ConversationRow } from "./bindings/ConversationRow";
import type { ConversationView } from "./bindings/ConversationView";
import type { UserConversations } from "./bindings/UserConversations";
import type { UserSummary } from "./bindings/UserSummary";
import { deleteChecked, deleteIds, exportAll, exportOne, repair, verify } from "./actions";
import { eraseUser, exportForCustomer } from "./customer";
import { day, h, kids, when } from "./dom";
import { call, errorText, isErrorReport } from "./ipc";
import { convPane, empty, say, viewPane } from "./layout";
import { count, isCold, rowNotes, userLabel, type SortKey } from "./logic";
import { liveCell, loadLive, restore, restoreBulk } from "./restore";
import { conversationRows, state } from "./state";
import { renderCold } from "./views/cold";
import { copyText } from "./clipboard";
import { FindBar } from "./views/findbar";
import type { MessageMatch } from "./bindings/MessageMatch";
import { searchPanel, searchUserMessages } from "./views/message-search";
import { renderRaw, TranscriptView } from "./views/transcript";

/** The open transcript's find bar (Ctrl/Cmd+F), if a transcript is shown. */
export let findBar: FindBar | null = null;
/** The shown transcript, which the rest of its messages are appended to. */
let transcript: TranscriptView | null = null;

function withClass<T extends HTMLElement>(el: T, name: string): T {
  el.classList.add(name);
  return el;
}

export async function openUser(u: UserSummary): Promise<void> {
  state.user = u;
  state.listing = null;
  state.checked.clear();
  state.rowIndex = 0;
  convPane.replaceChildren(h("p", { class: "loading", text: `Loading ${userLabel(u)}…` }));
  let listing: UserConversations;
  try {
    listing = await call("user_conversations", { user: u.folder });
  } catch (e) {
    if (state.user === u) empty(convPane, "Could not load this user", errorText(e));
    return;
  }
  if (state.user === u) showUser(u, listing);
}

/** The folder whose conversations the middle pane shows. */
let shownFolder: string | null = null;

/** Show a user's conversations (read by `openUser`, or by an exact look-up). */
export function showUser(u: UserSummary, listing: UserConversations): void {
  // Another user's conversation must not stay open beside this one's list.
  if (shownFolder !== null && shownFolder !== listing.folder) {
    state.conversation = null;
    empty(viewPane, "No conversation open", "Open a conversation to read it.");
  }
  shownFolder = listing.folder;
  state.user = u;
  state.listing = listing;
  state.checked.clear();
  state.rowIndex = 0;
  renderConversations();
  void loadLive(u.folder);
  if (listing.index_error) say(`metadata.json unreadable: ${listing.index_error.message}`, "error");
}

function renderConversations(): void {
  const listing = state.listing;
  if (!listing || !state.user) return;
  const rows = conversationRows();
  const canRestore = state.profile?.can_restore ?? false;
  const header = (label: string, key: SortKey, col: string) =>
    h("th", {
      scope: "col",
      class: `${col}${state.sort.key === key ? ` sorted ${state.sort.ascending ? "asc" : "desc"}` : ""}`,
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
        h("td", { class: "col-check" }, box),
        h("td", { class: "title", text: r.title ?? r.conversation_id, title: [r.title, r.conversation_id, notes].filter(Boolean).join("\n") }),
        canRestore ? withClass(liveCell(r.conversation_id), "col-live") : null,
        h("td", { class: "date col-created", text: day(r.created_at), title: r.created_at ?? "" }),
        h("td", { class: "date col-archived", text: day(r.archived_at), title: r.archived_at ?? "" }),
        h("td", { class: "num col-messages", text: r.message_count === null ? "—" : String(r.message_count) }),
        h("td", { class: "col-storage" }, h("span", { class: `badge ${isCold(r) ? "cold" : ""}`, text: r.storage_class ?? "—" })),
        h("td", { class: "note col-note", text: notes, title: notes }),
      ),
    );
  });
  const table = h(
    "table",
    { class: "conversations", tabindex: "0", "aria-label": "Conversations" },
    h("colgroup", {}, ...["col-check", "col-title", canRestore ? "col-live" : "", "col-created", "col-archived", "col-messages", "col-storage", "col-note"].filter(Boolean).map((c) => h("col", { class: c }))),
    h("thead", {}, h("tr", {}, h("th", { class: "col-check" }, h("span", { class: "visually-hidden", text: "Selected" })), header("Title", "title", "col-title"), canRestore ? h("th", { scope: "col", class: "col-live", text: "In Supabase" }) : null, header("Created", "created_at", "col-created"), header("Archived", "archived_at", "col-archived"), header("Messages", "message_count", "col-messages"), header("Storage", "storage_class", "col-storage"), h("th", { class: "col-note" }, h("span", { class: "visually-hidden", text: "Notes" })))),
    body,
  );
  convPane.replaceChildren(
    h("div", { class: "pane-head" }, h("h2", { text: userLabel(listing) }), h("span", { class: "meta", text: `${count(rows.length, "conversation")}${listing.index_missing ? " · no metadata.json" : ""}` })),
    h("div", { class: "actions", id: "user-actions" }),
    rows.length ? table : h("div", { class: "empty" }, h("p", { text: "No conversations archived for this user." })),
  );
  renderActions();
}

export function renderActions(): void {
  const bar = document.getElementById("user-actions");
  if (!bar || !state.user) return;
  const user = state.user;
  const ro = state.profile?.read_only ?? true;
  const n = state.checked.size;
  bar.replaceChildren(
    ...kids(
      h("button", { id: "export-user", text: "Export all…", title: "Every conversation of this user in one file", onclick: () => exportAll(user.folder) }),
      h("button", { id: "export-for-customer", text: "For the customer…", title: "A copy for a data-access request: each conversation as JSON and text, with a manifest", onclick: () => exportForCustomer(user.folder) }),
      h("button", { text: "Verify", onclick: () => verify(user.folder) }),
      h("button", { id: "search-messages", text: "Search messages…", title: "Find text in all of this user's messages", onclick: () => searchUserMessages(user, openMatch) }),
      ro ? null : h("button", { text: "Verify & repair", onclick: () => repair(user.folder) }),
      ro || !state.profile?.can_restore ? null : h("button", { id: "restore-all", text: "Restore all…", title: "Every conversation of this user, or those archived in a date range", onclick: () => restoreBulk(user.folder, "all") }),
      ro || !state.profile?.can_restore || n === 0 ? null : h("button", { id: "restore-checked", text: `Restore ${n}…`, onclick: () => restoreBulk(user.folder, [...state.checked]) }),
      ro || n === 0 ? null : h("button", { class: "danger", text: `Delete ${n} permanently…`, onclick: () => deleteChecked() }),
      ro ? null : h("button", { id: "erase-user", class: "danger", text: "Erase user…", title: "Everything of this user, for good, with a deletion receipt", onclick: () => eraseUser(user.folder) }),
    ),
  );
}

/** Open conversation `r`; with `at`, find `at.query` there from message `at.message` on. */
export async function openConversation(r: ConversationRow, at?: { query: string; message: number }): Promise<void> {
  if (!state.user) return;
  findBar = null;
  renderConversationsSelection();
  viewPane.replaceChildren(h("p", { class: "loading", text: "Opening…" }));
  if (isCold(r)) return showCold(r);
  try {
    state.conversation = await call("open_conversation", { user: state.user.folder, id: r.conversation_id });
  } catch (e) {
    // Cold whatever the listed class (an INTELLIGENT_TIERING archive tier shows only on reading).
    if (isErrorReport(e) && e.code === "cold_storage") return showCold(r);
    viewPane.replaceChildren(h("div", { class: "empty" }, h("h2", { text: "Cannot open this conversation" }), h("p", { class: "error", text: errorText(e) })));
    return;
  }
  state.tab = at ? "transcript" : state.tab;
  renderConversation();
  const rest = loadRest(state.conversation);
  // A match further down may be in messages still to come.
  if (at) await rest;
  // Set by renderConversation (TypeScript still sees the null above).
  const bar = findBar as FindBar | null;
  if (at && bar) {
    bar.open(at.query);
    bar.search(at.query, at.message);
  }
}

/**
 * The messages `open_conversation` left out (it answers with the first
 * screens), appended to conversation `c` and to its transcript if shown —
 * unless another conversation was opened meanwhile.
 */
async function loadRest(c: ConversationView): Promise<void> {
  if (c.messages.length >= c.message_count || !state.user) return;
  try {
    const rest = await call("conversation_messages", { user: state.user.folder, id: c.id, from: c.messages.length });
    if (state.conversation !== c) return;
    if (transcript?.view === c) transcript.append(rest);
    else c.messages = c.messages.concat(rest);
  } catch (e) {
    if (state.conversation === c) say(`Messages ${c.messages.length + 1}–${c.message_count} not loaded: ${errorText(e)}`, "error");
  }
}

/** Open a match of "Search messages": its conversation, found there from its message on. */
function openMatch(m: MessageMatch, query: string): void {
  const i = conversationRows().findIndex((r) => r.conversation_id === m.conversation_id);
  if (i < 0) {
    say(`Conversation ${m.conversation_id} is not among the open user's conversations`, "error");
    return;
  }
  state.rowIndex = i;
  void openConversation(conversationRows()[i], { query, message: m.message_index });
}

/** Open the find bar of the shown transcript; false when none is shown. */
export function openFind(): boolean {
  if (!findBar) return false;
  findBar.open();
  return true;
}

async function copy(text: string, what: string): Promise<void> {
  try {
    await copyText(text);
    say(`${what} copied`, "ok");
  } catch (e) {
    say(`${what} not copied: ${errorText(e)}`, "error");
  }
}

export function renderConversationsSelection(): void {
  convPane.querySelectorAll("tbody tr").forEach((tr, i) => tr.classList.toggle("selected", i === state.rowIndex));
}

function showCold(r: ConversationRow): void {
  const folder = state.user!.folder;
  viewPane.replaceChildren(renderCold(r, folder, state.profile?.read_only ?? false, async () => {
    state.conversation = await call("open_conversation", { user: folder, id: r.conversation_id });
    renderConversation();
    await loadRest(state.conversation);
  }));
}

/** The stored document of the open conversation, fetched once when its tab is first shown. */
let rawJson: { conversation: ConversationView; json: string } | null = null;

async function showRaw(c: ConversationView, placeholder: HTMLElement): Promise<void> {
  const folder = state.user!.folder;
  try {
    if (rawJson?.conversation !== c) rawJson = { conversation: c, json: await call("conversation_json", { user: folder, id: c.id }) };
    placeholder.replaceWith(renderRaw(rawJson.json));
  } catch (e) {
    placeholder.replaceWith(h("p", { class: "error", text: `Cannot read the raw JSON: ${errorText(e)}` }));
  }
}

function renderConversation(): void {
  const c = state.conversation;
  if (!c || !state.user) return;
  const user = state.user;
  const tab = (id: "transcript" | "raw", label: string) =>
    h("button", { role: "tab", "aria-selected": state.tab === id ? "true" : "false", class: state.tab === id ? "tab active" : "tab", text: label, onclick: () => { state.tab = id; renderConversation(); } });
  const ro = state.profile?.read_only ?? true;
  let body: HTMLElement;
  if (state.tab === "transcript") {
    transcript = new TranscriptView(c, (text, what) => void copy(text, what));
    findBar = new FindBar(transcript);
    body = h("div", { class: "transcript-wrap" }, findBar.el, transcript.el);
  } else {
    transcript = null;
    findBar = null;
    body = h("p", { class: "loading", text: "Loading the raw JSON…" });
    void showRaw(c, body);
  }
  const results = searchPanel?.folder === user.folder ? searchPanel.el : null;
  viewPane.replaceChildren(
    h("div", { class: "pane-head" },
      results ? h("button", { class: "small back", text: "← Search results", onclick: () => viewPane.replaceChildren(results) }) : null,
      h("h2", { class: "conv-title", text: c.title ?? c.id }),
      h("span", { class: "meta", text: `${count(c.message_count, "message")} · created ${when(c.created_at)} · archived ${when(c.archived_at)} · ${c.encoding}` }),
    ),
    h("div", { class: "actions" },
      ro || !state.profile?.can_restore ? null : h("button", { id: "restore", class: "primary", text: "Restore to Supabase", onclick: () => restore(user.folder, c.id) }),
      h("button", { id: "export", text: "Export JSON…", onclick: () => exportOne(user.folder, c.id) }),
      h("button", { id: "copy-id", text: "Copy id", title: `Copy the conversation id ${c.id}`, onclick: () => void copy(c.id, "Conversation id") }),
      ro ? null : h("button", { class: "danger", text: "Delete permanently…", onclick: () => deleteIds([c.id]) }),
    ),
    h("div", { class: "tabs", role: "tablist" }, tab("transcript", "Transcript"), tab("raw", "Raw JSON")),
    body,
  );
}
