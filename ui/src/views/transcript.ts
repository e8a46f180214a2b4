import type { ConversationView } from "../bindings/ConversationView";
import type { MessageView } from "../bindings/MessageView";
import { h, when } from "../dom";

const BATCH = 200;

function message(m: MessageView): HTMLElement {
  const role = m.role ?? "unknown";
  return h(
    "article",
    { class: `msg role-${role.replace(/[^a-z]/gi, "")}`, "data-id": m.id },
    h(
      "header",
      {},
      h("span", { class: "role", text: role }),
      h("time", { text: when(m.created_at), title: m.created_at ?? "" }),
      m.feedback ? h("span", { class: "feedback", text: `feedback: ${m.feedback}` }) : null,
    ),
    // Untrusted content: text only, line breaks kept by CSS (pre-wrap).
    h("div", { class: "content", text: m.content }),
  );
}

/**
 * The transcript, rendered a batch at a time as the reader scrolls, so a
 * 10k-message conversation opens at once and scrolls smoothly.
 */
export function renderTranscript(view: ConversationView): HTMLElement {
  const list = h("div", { class: "transcript", tabindex: "0", "aria-label": "Transcript" });
  const sentinel = h("div", { class: "sentinel" });
  let shown = 0;
  const more = () => {
    const next = view.messages.slice(shown, shown + BATCH);
    const frag = document.createDocumentFragment();
    next.forEach((m) => frag.append(message(m)));
    sentinel.before(frag);
    shown += next.length;
    if (shown >= view.messages.length) sentinel.remove();
  };
  list.append(sentinel);
  more();
  // Scrolled near the end: the next batch. WebKitGTK's IntersectionObserver
  // (below) stops firing after the second batch, so scrolling drives it too.
  list.addEventListener("scroll", () => {
    if (shown < view.messages.length && list.scrollTop + list.clientHeight > list.scrollHeight - 800) more();
  });
  if (typeof IntersectionObserver !== "undefined") {
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && shown < view.messages.length) more();
    }, { root: list, rootMargin: "800px" });
    io.observe(sentinel);
  }
  return list;
}

export function renderRaw(view: ConversationView): HTMLElement {
  return h("pre", { class: "raw", tabindex: "0", "aria-label": "Raw JSON", text: view.raw_json });
}
