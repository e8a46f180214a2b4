// "Search this user's messages": text found across all of one user's
// conversations, read on demand by the backend (a task with progress and
// Cancel in the task bar); each match streams in as its conversation is
// searched and links to the message.
import type { MessageMatch } from "../bindings/MessageMatch";
import type { MessageSearchUpdate } from "../bindings/MessageSearchUpdate";
import type { UserSummary } from "../bindings/UserSummary";
import { h } from "../dom";
import { Arrived, call, channel, errorText, isCancelled } from "../ipc";
import { say, tasks, viewPane } from "../layout";
import { count, userLabel, type ProgressView } from "../logic";

/** The last search's panel, to go back to from a conversation opened from it. */
export let searchPanel: { folder: string; el: HTMLElement } | null = null;

export function messageSearchProgress(p: MessageSearchUpdate): ProgressView {
  return {
    text: `${p.conversations_done} of ${count(p.conversations_total, "conversation")} searched`,
    fraction: p.conversations_total ? p.conversations_done / p.conversations_total : null,
  };
}

/** One match: where it is and its snippet, as text. */
export function matchItem(m: MessageMatch, open: (m: MessageMatch) => void): HTMLElement {
  return h(
    "li",
    {},
    h(
      "button",
      { class: "match", "data-conversation": m.conversation_id, "data-message": m.message_index, onclick: () => open(m) },
      h("span", { class: "match-where", text: `${m.conversation_title ?? m.conversation_id} · message ${m.message_index + 1}${m.role ? ` (${m.role})` : ""}${m.occurrences > 1 ? ` · ${m.occurrences}×` : ""}` }),
      h("span", { class: "match-snippet", text: m.snippet }),
    ),
  );
}

/** Show the search panel for `user` in the conversation pane. */
export function searchUserMessages(user: UserSummary, open: (m: MessageMatch, query: string) => void): void {
  const input = h("input", { type: "search", id: "message-query", placeholder: "Text to find in every message", "aria-label": "Text to find in this user's messages" });
  const list = h("ul", { class: "matches", "aria-label": "Matching messages" });
  const summary = h("p", { class: "meta", role: "status", "aria-live": "polite" });
  const button = h("button", { class: "primary", type: "submit", text: "Search" });
  const form = h("form", { class: "row" }, input, button);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });
  const el = h("div", { class: "message-search" },
    h("div", { class: "pane-head" }, h("h2", { text: `Search ${userLabel(user)}'s messages` })),
    form, summary, list);
  searchPanel = { folder: user.folder, el };
  viewPane.replaceChildren(el);
  input.focus();

  async function run(): Promise<void> {
    const query = input.value.trim();
    if (!query) return;
    button.disabled = true;
    list.replaceChildren();
    summary.textContent = "Searching…";
    let found = 0;
    let answered = false;
    const seen = new Arrived();
    const onUpdate = (u: MessageSearchUpdate) => {
      found += u.matches.length;
      list.append(...u.matches.map((m) => matchItem(m, (hit) => open(hit, query))));
      seen.note(u.conversations_done);
      // A late update must not put "so far" back over the final count.
      if (!answered) summary.textContent = `${count(found, "matching message")} so far`;
    };
    try {
      const r = await tasks.run(
        `Searching ${userLabel(user)}'s messages`,
        (task, onProgress: (p: MessageSearchUpdate) => void) =>
          call("search_user_messages", { user: user.folder, query, task, onUpdate: channel((u: MessageSearchUpdate) => { onUpdate(u); onProgress(u); }) }),
        messageSearchProgress,
      );
      answered = true;
      // The final count only once every match is listed.
      await seen.reached(r.conversations_searched);
      const skipped = r.unsearched.length ? ` · ${r.unsearched.length} could not be read: ${r.unsearched.map((u) => `${u.conversation_id} (${u.error.message})`).join("; ")}` : "";
      summary.textContent = `${count(r.matching_messages, "matching message")} in ${count(r.conversations_searched, "conversation")}${r.truncated ? " (stopped at the limit: refine the search)" : ""}${skipped}`;
    } catch (e) {
      summary.textContent = isCancelled(e) ? `Cancelled: ${count(found, "matching message")} found before` : errorText(e);
      if (!isCancelled(e)) say(errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  }
}
