// The find bar over a transcript (Ctrl/Cmd+F): a match count,
// next/previous, the matches highlighted as text ranges — the CSS Custom
// Highlight API where the webview has it, otherwise the text node split
// around <mark> elements made with DOM methods. Never HTML from content.
import { h } from "../dom";
import { findMatches, matchLabel, stepMatch, type FindMatch } from "../find";
import type { TranscriptView } from "./transcript";

interface HighlightRegistry {
  set(name: string, highlight: unknown): void;
  delete(name: string): boolean;
}
type HighlightClass = new (...ranges: Range[]) => unknown;

/** The CSS Custom Highlight API, when the webview has it. */
function highlightApi(): { registry: HighlightRegistry; Highlight: HighlightClass } | null {
  const css = (globalThis as { CSS?: { highlights?: HighlightRegistry } }).CSS;
  const Highlight = (globalThis as { Highlight?: HighlightClass }).Highlight;
  return css?.highlights && Highlight ? { registry: css.highlights, Highlight } : null;
}

export class FindBar {
  readonly el: HTMLElement;
  readonly input: HTMLInputElement;
  private readonly count: HTMLElement;
  private matches: FindMatch[] = [];
  private current = -1;
  /** Messages whose text was split around <mark>s (no highlight API). */
  private readonly marked = new Set<number>();

  constructor(private readonly transcript: TranscriptView) {
    this.input = h("input", { type: "search", class: "find-input", placeholder: "Find in conversation", "aria-label": "Find in conversation" });
    this.count = h("span", { class: "find-count meta", role: "status", "aria-live": "polite" });
    this.input.addEventListener("input", () => this.search(this.input.value));
    this.el = h(
      "div",
      { class: "find-bar", role: "search", hidden: true },
      this.input,
      this.count,
      h("button", { class: "small find-prev", text: "↑", title: "Previous match (Shift+Enter)", "aria-label": "Previous match", onclick: () => this.step(-1) }),
      h("button", { class: "small find-next", text: "↓", title: "Next match (Enter)", "aria-label": "Next match", onclick: () => this.step(1) }),
      h("button", { class: "small find-close", text: "✕", title: "Close (Esc)", "aria-label": "Close find", onclick: () => this.close() }),
    );
    transcript.onRendered = (from, to) => this.paint(from, to);
    transcript.onAppended = () => this.appended();
  }

  /**
   * Messages came after a search: their matches follow the ones found, so
   * the current match stays where it is (the first becomes current if
   * there was none) and the count grows.
   */
  private appended(): void {
    if (!this.input.value) return;
    this.matches = findMatches(this.transcript.view.messages.map((m) => m.content), this.input.value);
    if (this.current < 0 && this.matches.length) {
      this.current = 0;
      this.paint(0, this.transcript.rendered);
      this.show();
      return;
    }
    this.count.textContent = matchLabel(this.current, this.matches.length);
    this.paint(0, this.transcript.rendered);
  }

  /** The text of message `index` (every message the view has so far). */
  private text(index: number): string {
    return this.transcript.view.messages[index].content;
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  get matchCount(): number {
    return this.matches.length;
  }

  get currentIndex(): number {
    return this.current;
  }

  /** Show the bar (with `query`, if given) and focus its box. */
  open(query?: string): void {
    this.el.hidden = false;
    if (query !== undefined && query !== this.input.value) {
      this.input.value = query;
      this.search(query);
    }
    this.input.focus();
    this.input.select();
  }

  close(): void {
    this.el.hidden = true;
    this.clear();
    this.matches = [];
    this.current = -1;
    this.transcript.el.focus();
  }

  /** Find `query` in every message; the first match at or after message `from` becomes current. */
  search(query: string, from = 0): void {
    this.clear();
    this.matches = findMatches(this.transcript.view.messages.map((m) => m.content), query);
    const first = this.matches.findIndex((m) => m.message >= from);
    this.current = this.matches.length ? Math.max(first, 0) : -1;
    this.paint(0, this.transcript.rendered);
    this.show();
  }

  /** Move to the next (1) or previous (-1) match, wrapping around. */
  step(direction: 1 | -1): void {
    this.current = stepMatch(this.current, this.matches.length, direction);
    this.paint(0, this.transcript.rendered);
    this.show();
  }

  /** Say where we are and bring the current match into view (rendering up to it). */
  private show(): void {
    this.count.textContent = this.input.value ? matchLabel(this.current, this.matches.length) : "";
    const m = this.matches[this.current];
    if (!m) return;
    const article = this.transcript.messageEl(m.message);
    article?.scrollIntoView({ block: "center" });
  }

  /** Highlight the matches of messages `from` to `to` (those rendered). */
  private paint(from: number, to: number): void {
    const api = highlightApi();
    if (api) {
      const all: Range[] = [];
      const current: Range[] = [];
      this.matches.forEach((m, i) => {
        const node = this.transcript.contentEl(m.message)?.firstChild;
        if (!node || node.nodeType !== Node.TEXT_NODE) return;
        const range = document.createRange();
        range.setStart(node, m.start);
        range.setEnd(node, m.end);
        (i === this.current ? current : all).push(range);
      });
      api.registry.set("find-match", new api.Highlight(...all));
      api.registry.set("find-current", new api.Highlight(...current));
      return;
    }
    const byMessage = new Map<number, { m: FindMatch; i: number }[]>();
    this.matches.forEach((m, i) => {
      if (m.message < from || m.message >= to) return;
      const list = byMessage.get(m.message) ?? [];
      list.push({ m, i });
      byMessage.set(m.message, list);
    });
    for (const [message, list] of byMessage) {
      const el = this.transcript.contentEl(message);
      if (!el) continue;
      const text = this.text(message);
      const parts: Node[] = [];
      let at = 0;
      for (const { m, i } of list) {
        parts.push(document.createTextNode(text.slice(at, m.start)));
        parts.push(h("mark", { class: i === this.current ? "find-current" : "find-match", text: text.slice(m.start, m.end) }));
        at = m.end;
      }
      parts.push(document.createTextNode(text.slice(at)));
      el.replaceChildren(...parts);
      this.marked.add(message);
    }
  }

  /** Take every highlight away, leaving each message one text node again. */
  private clear(): void {
    const api = highlightApi();
    if (api) {
      api.registry.delete("find-match");
      api.registry.delete("find-current");
    }
    for (const message of this.marked) {
      const el = this.transcript.contentEl(message);
      if (el) el.textContent = this.text(message);
    }
    this.marked.clear();
  }
}
