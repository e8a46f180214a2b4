// The keyboard: one table of every shortcut — the keys, what they do, and
// where they apply. The key handler runs it and the `?` sheet lists it, so
// a shortcut is written once.
import { openHit, runSearch, searchNow } from "./browse";
import { findBar, openConversation, openFind, openUser, renderConversationsSelection } from "./conversations";
import { h } from "./dom";
import { convPane, empty, results, search, userList, usersBody, viewPane } from "./layout";
import { moveSelection } from "./logic";
import { resizeFocused } from "./panes";
import { conversationRows, state } from "./state";
import { modal } from "./views/dialog";

/** Where a shortcut applies (the `?` sheet's headings). */
export type Scope = "Anywhere" | "Search box" | "Lists" | "Find bar";

export interface Shortcut {
  /** The keys as `keyName(e)` spells them; the sheet shows them too. */
  keys: string[];
  does: string;
  scope: Scope;
  /** Handle the key; false when it does not apply here (the key then goes on). */
  run: (e: KeyboardEvent) => boolean;
}

/** `Ctrl+F` (Cmd counts as Ctrl), `Shift+Enter`, `ArrowDown`, `?`. */
export function keyName(e: KeyboardEvent): string {
  const key = e.key.length === 1 && e.key !== " " ? e.key.toLowerCase() : e.key;
  const shown = key.length === 1 && (e.ctrlKey || e.metaKey) ? key.toUpperCase() : key;
  const mods = [e.ctrlKey || e.metaKey ? "Ctrl" : "", e.altKey ? "Alt" : "", e.shiftKey && e.key.length > 1 ? "Shift" : ""];
  return [...mods.filter(Boolean), shown].join("+");
}

const typing = (e: KeyboardEvent) => e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement;
const inFindBar = (e: KeyboardEvent) => !!findBar && findBar.isOpen && e.target === findBar.input;
const focusedList = () => (usersBody.contains(results.el) ? results.el : userList.el);
const MOVE_KEYS = ["ArrowDown", "ArrowUp", "j", "k", "Home", "End", "PageDown", "PageUp"];

function move(e: KeyboardEvent): boolean {
  if (typing(e)) return false;
  if (convPane.contains(document.activeElement)) {
    const next = moveSelection(state.rowIndex, e.key, conversationRows().length);
    if (next === null) return false;
    state.rowIndex = next;
    renderConversationsSelection();
    convPane.querySelectorAll("tbody tr")[next]?.scrollIntoView({ block: "nearest" });
    return true;
  }
  const list = results.el.contains(document.activeElement) ? results : userList;
  const next = moveSelection(list.selected, e.key, list.length);
  if (next === null) return false;
  list.select(next);
  return true;
}

function openSelected(e: KeyboardEvent): boolean {
  if (typing(e)) return false;
  if (convPane.contains(document.activeElement)) {
    const row = conversationRows()[state.rowIndex];
    if (row) void openConversation(row);
    return !!row;
  }
  if (results.el.contains(document.activeElement)) {
    if (results.current) void openHit(results.current);
    return !!results.current;
  }
  if (!userList.current) return false;
  void openUser(userList.current).then(() => convPane.querySelector<HTMLElement>("table")?.focus());
  return true;
}

function goBack(e: KeyboardEvent): boolean {
  if (e.target === search && search.value) {
    search.value = "";
    void runSearch(false);
  } else if (typing(e)) (e.target as HTMLElement).blur();
  else if (state.conversation) {
    state.conversation = null;
    empty(viewPane, "No conversation open", "Open a conversation to read it.");
    convPane.querySelector<HTMLElement>("table")?.focus();
  } else focusedList().focus();
  return true;
}

/** From the search box: search now (typed faster than the debounce), then go to the list (Enter: open the first hit). */
function leaveSearch(enter: boolean): void {
  void (async () => {
    await searchNow();
    const showing = usersBody.contains(results.el);
    (showing ? results.el : userList.el).focus();
    if (enter && showing && results.current) await openHit(results.current);
  })();
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ["/"], does: "Go to the search box", scope: "Anywhere", run: (e) => !typing(e) && (search.focus(), true) },
  { keys: ["?"], does: "Show the keyboard shortcuts", scope: "Anywhere", run: (e) => !typing(e) && (showShortcuts(), true) },
  { keys: ["Ctrl+F"], does: "Find in the open transcript (Cmd+F on macOS)", scope: "Anywhere", run: () => openFind() },
  { keys: ["Enter", "F3"], does: "Next match", scope: "Find bar", run: (e) => inFindBar(e) && (findBar!.step(1), true) },
  { keys: ["Shift+Enter", "Shift+F3"], does: "Previous match", scope: "Find bar", run: (e) => inFindBar(e) && (findBar!.step(-1), true) },
  { keys: ["Escape"], does: "Close the find bar", scope: "Find bar", run: (e) => inFindBar(e) && (findBar!.close(), true) },
  { keys: ["ArrowDown"], does: "Search now and go to the results", scope: "Search box", run: (e) => e.target === search && (leaveSearch(false), true) },
  { keys: ["Enter"], does: "Search now and open the first result", scope: "Search box", run: (e) => e.target === search && (leaveSearch(true), true) },
  { keys: ["Escape"], does: "Clear the search box", scope: "Search box", run: (e) => e.target === search && !!search.value && goBack(e) },
  { keys: MOVE_KEYS, does: "Move in the focused list (users, results, conversations)", scope: "Lists", run: move },
  { keys: ["Enter"], does: "Open the selected user, result or conversation", scope: "Lists", run: openSelected },
  { keys: ["ArrowLeft", "ArrowRight"], does: "Move the focused pane divider (widths are remembered)", scope: "Anywhere", run: (e) => resizeFocused(e) },
  { keys: ["Escape"], does: "Go back: close the conversation, or leave a box", scope: "Anywhere", run: goBack },
];

/** Run the first shortcut for this key that applies here. */
function onKey(e: KeyboardEvent): void {
  if (document.querySelector("dialog[open]")) return;
  const name = keyName(e);
  for (const s of SHORTCUTS) {
    if (s.keys.includes(name) && s.run(e)) {
      e.preventDefault();
      return;
    }
  }
}

/** The `?` sheet: every shortcut of the table, by where it applies. */
export function shortcutSheet(): HTMLElement {
  const scopes: Scope[] = ["Anywhere", "Search box", "Lists", "Find bar"];
  return h("div", { class: "shortcuts" }, ...scopes.map((scope) =>
    h("section", {},
      h("h3", { text: scope }),
      h("table", {}, h("tbody", {}, ...SHORTCUTS.filter((s) => s.scope === scope).map((s) =>
        h("tr", {},
          h("th", { scope: "row" }, ...s.keys.flatMap((k, i) => [i ? " " : "", h("kbd", { text: k })])),
          h("td", { text: s.does }))))))));
}

export function showShortcuts(): void {
  void modal("Keyboard shortcuts", shortcutSheet(), [{ label: "Close", value: "ok" }]);
}

export function installKeyboard(): void {
  document.addEventListener("keydown", onKey);
}
