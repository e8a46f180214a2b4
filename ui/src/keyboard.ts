// The keyboard: arrows or j/k (Home, End, PageUp, PageDown) move in the
// focused list, Enter opens, `/` goes to the search box, Esc goes back.
import { openHit, runSearch, searchNow } from "./browse";
import { openConversation, openUser, renderConversationsSelection } from "./conversations";
import { convPane, empty, results, search, userList, usersBody, viewPane } from "./layout";
import { moveSelection } from "./logic";
import { conversationRows, state } from "./state";

/** Arrows or j/k move, Enter opens, `/` searches, Esc goes back. */
export function installKeyboard(): void {
  document.addEventListener("keydown", onKey);
}

function onKey(e: KeyboardEvent): void {
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
      await searchNow();
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
}
