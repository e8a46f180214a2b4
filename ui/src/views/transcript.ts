import type { ConversationView } from "../bindings/ConversationView";
import type { MessageView } from "../bindings/MessageView";
import { h, when } from "../dom";

const BATCH = 200;

function message(m: MessageView, index: number, onCopy: (text: string, what: string) => void): HTMLElement {
  const role = m.role ?? "unknown";
  return h(
    "article",
    { class: `msg role-${role.replace(/[^a-z]/gi, "")}`, "data-id": m.id, "data-index": index },
    h(
      "header",
      {},
      h("span", { class: "role", text: role }),
      h("time", { text: when(m.created_at), title: m.created_at ?? "" }),
      m.feedback ? h("span", { class: "feedback", text: `feedback: ${m.feedback}` }) : null,
      h("button", {
        class: "small copy-message",
        text: "Copy",
        title: "Copy this message's text",
        "aria-label": `Copy message ${index + 1}`,
        onclick: () => onCopy(m.content, "Message text"),
      }),
    ),
    // Untrusted content: text only, line breaks kept by CSS (pre-wrap).
    h("div", { class: "content", text: m.content }),
  );
}

/**
 * The transcript, rendered a batch at a time as the reader scrolls, so a
 * 10k-message conversation opens at once and scrolls smoothly; the find bar
 * asks it to render up to a match further down. It opens with the first
 * messages of the view; the rest are appended when they come (`append`).
 */
export class TranscriptView {
  readonly el: HTMLElement;
  private readonly sentinel = h("div", { class: "sentinel" });
  /** The rendered messages, by index. */
  private readonly articles: HTMLElement[] = [];
  /** Called with the range of messages each new batch rendered. */
  onRendered: (from: number, to: number) => void = () => {};

  constructor(
    readonly view: ConversationView,
    private readonly onCopy: (text: string, what: string) => void = () => {},
  ) {
    this.el = h("div", { class: "transcript", tabindex: "0", "aria-label": "Transcript" }, this.sentinel);
    this.more();
    // Scrolled near the end: the next batch. WebKitGTK's IntersectionObserver
    // (below) stops firing after the second batch, so scrolling drives it too.
    this.el.addEventListener("scroll", () => {
      if (this.nearEnd()) this.more();
    });
    if (typeof IntersectionObserver !== "undefined") {
      const io = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting) && this.rendered < view.messages.length) this.more();
      }, { root: this.el, rootMargin: "800px" });
      io.observe(this.sentinel);
    }
  }

  /** Every message of the conversation is in the view (none still to come). */
  get complete(): boolean {
    return this.view.messages.length >= this.view.message_count;
  }

  /** The messages that were still to come, appended to the view. */
  append(messages: MessageView[]): void {
    // Not push(...messages): a call takes at most 65,536 arguments in WebKit.
    this.view.messages = this.view.messages.concat(messages);
    if (this.nearEnd()) this.more();
    this.onAppended();
  }

  /** Called once messages were appended. */
  onAppended: () => void = () => {};

  private nearEnd(): boolean {
    const el = this.el;
    return this.rendered < this.view.messages.length && el.scrollTop + el.clientHeight > el.scrollHeight - 800;
  }

  /** Messages rendered so far (the first `rendered`). */
  get rendered(): number {
    return this.articles.length;
  }

  /** Render batches until message `index` exists; its element. */
  messageEl(index: number): HTMLElement | null {
    while (this.articles.length <= index && this.articles.length < this.view.messages.length) this.more();
    return this.articles[index] ?? null;
  }

  /** The text element of rendered message `index` (null when not rendered yet). */
  contentEl(index: number): HTMLElement | null {
    return this.articles[index]?.querySelector<HTMLElement>(".content") ?? null;
  }

  private more(): void {
    const from = this.articles.length;
    const next = this.view.messages.slice(from, from + BATCH).map((m, i) => message(m, from + i, this.onCopy));
    this.sentinel.before(...next);
    this.articles.push(...next);
    if (this.articles.length >= this.view.message_count) this.sentinel.remove();
    this.onRendered(from, this.articles.length);
  }
}

/** The transcript element alone (no find bar). */
export function renderTranscript(view: ConversationView): HTMLElement {
  return new TranscriptView(view).el;
}

/** The stored document as text (untrusted: no element is made from it). */
export function renderRaw(json: string): HTMLElement {
  return h("pre", { class: "raw", tabindex: "0", "aria-label": "Raw JSON", text: json });
}
