import { afterEach, describe, expect, it } from "vitest";
import type { ConversationView } from "./bindings/ConversationView";
import { findMatches, firstMatchFrom, matchLabel, stepMatch } from "./find";
import { FindBar } from "./views/findbar";
import { matchItem, messageSearchProgress } from "./views/message-search";
import { TranscriptView } from "./views/transcript";

const hostile = '<img src=x onerror="window.__xss=1">needle<script>window.__xss=2</script>';

function view(contents: string[]): ConversationView {
  return {
    key: "k", encoding: "plain", id: "c", title: "t", created_at: null, archived_at: null, user_email: null,
    messages: contents.map((content, i) => ({ id: `m${i}`, role: i % 2 ? "assistant" : "user", created_at: null, feedback: null, content })),
    message_count: contents.length,
  };
}

describe("findMatches", () => {
  it("counts every caseless occurrence, in message order, with DOM offsets", () => {
    const m = findMatches(["Refund? refund!", "none", "a REFUND", "İstanbul refund"], "refund");
    expect(m.map((x) => [x.message, x.start, x.end])).toEqual([[0, 0, 6], [0, 8, 14], [2, 2, 8], [3, 9, 15]]);
  });
  it("treats the query as text, not a pattern", () => {
    expect(findMatches(["a.b axb (x) [y]"], "a.b")).toHaveLength(1);
    expect(findMatches(["(x) [y] (x)"], "(x)")).toHaveLength(2);
    expect(findMatches(["abc"], "")).toHaveLength(0);
  });
  it("stops at the limit", () => {
    expect(findMatches(["aaaa", "aaaa"], "a", 5)).toHaveLength(5);
  });
});

describe("next and previous", () => {
  it("wrap around both ways", () => {
    expect(stepMatch(-1, 3, 1)).toBe(0);
    expect(stepMatch(-1, 3, -1)).toBe(2);
    expect(stepMatch(2, 3, 1)).toBe(0);
    expect(stepMatch(0, 3, -1)).toBe(2);
    expect(stepMatch(1, 3, 1)).toBe(2);
    expect(stepMatch(0, 0, 1)).toBe(-1);
  });
  it("label the position", () => {
    expect(matchLabel(0, 12)).toBe("1 of 12");
    expect(matchLabel(-1, 0)).toBe("No matches");
    expect(matchLabel(4, 10, 10)).toBe("5 of 10+");
  });
  it("start from a message", () => {
    const m = findMatches(["x", "y", "x", "x"], "x");
    expect(firstMatchFrom(m, 1)).toBe(1);
    expect(firstMatchFrom(m, 9)).toBe(0);
  });
});

describe("find bar", () => {
  // jsdom does not scroll: note what would be scrolled to.
  let scrolledTo: string | undefined;
  Element.prototype.scrollIntoView = function (this: Element) {
    scrolledTo = this.getAttribute("data-index") ?? undefined;
  };
  afterEach(() => {
    document.body.replaceChildren();
    delete (globalThis as { Highlight?: unknown }).Highlight;
    delete (globalThis.CSS as { highlights?: unknown } | undefined)?.highlights;
  });

  it("finds in messages not rendered yet, renders up to the match, and splits text only with DOM nodes", () => {
    // 10,000 messages; only "needle" in 3 of them, one far beyond the first batch (200).
    const texts = Array.from({ length: 10_000 }, (_, i) => `message ${i}`);
    texts[1] = hostile;
    texts[5] = "Needle and NEEDLE";
    texts[1_500] = "a later needle";
    const t = new TranscriptView(view(texts));
    const bar = new FindBar(t);
    document.body.append(bar.el, t.el);
    expect(t.rendered).toBe(200);
    bar.open("needle");
    expect(bar.matchCount).toBe(4);
    expect(bar.el.querySelector(".find-count")!.textContent).toBe("1 of 4");
    const content = t.contentEl(1)!;
    // Highlighted by <mark>s holding text; the hostile markup is still text.
    expect(content.querySelector("img, script")).toBeNull();
    expect(content.textContent).toBe(hostile);
    expect(content.querySelector("mark.find-current")!.textContent).toBe("needle");
    bar.step(-1);
    expect(bar.currentIndex).toBe(3);
    expect(t.rendered).toBe(1_600);
    expect(scrolledTo).toBe("1500");
    expect(t.contentEl(1_500)!.querySelector("mark.find-current")!.textContent).toBe("needle");
    expect(bar.el.querySelector(".find-count")!.textContent).toBe("4 of 4");
    bar.step(1);
    expect(bar.currentIndex).toBe(0);
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
    bar.close();
    expect(t.contentEl(5)!.childNodes).toHaveLength(1);
    expect(t.contentEl(5)!.textContent).toBe("Needle and NEEDLE");
    expect(bar.el.hidden).toBe(true);
  }, 60_000);

  it("finds in messages that came after the search, the current match kept", () => {
    const texts = Array.from({ length: 1_000 }, (_, i) => `message ${i}`);
    texts[3] = "needle";
    texts[700] = "a late needle";
    // Opened with its first 200 messages, as `open_conversation` answers.
    const v = { ...view(texts), messages: view(texts).messages.slice(0, 200) };
    const t = new TranscriptView(v);
    const bar = new FindBar(t);
    document.body.append(bar.el, t.el);
    bar.open("needle");
    expect(bar.el.querySelector(".find-count")!.textContent).toBe("1 of 1");
    bar.open("late");
    expect(bar.matchCount).toBe(0);
    bar.open("needle");
    t.append(view(texts).messages.slice(200));
    expect(t.complete).toBe(true);
    expect(bar.matchCount).toBe(2);
    expect(bar.currentIndex).toBe(0);
    expect(bar.el.querySelector(".find-count")!.textContent).toBe("1 of 2");
    // Nothing found before the rest came: its first match becomes current.
    bar.open("late");
    expect(bar.matchCount).toBe(1);
    expect(scrolledTo).toBe("700");
  });

  it("uses text ranges of the CSS Custom Highlight API where the webview has it", () => {
    const registry = new Map<string, { ranges: Range[] }>();
    (globalThis as { Highlight?: unknown }).Highlight = class {
      ranges: Range[];
      constructor(...ranges: Range[]) {
        this.ranges = ranges;
      }
    };
    (globalThis as unknown as { CSS: { highlights: unknown } }).CSS ??= { highlights: registry };
    (globalThis.CSS as unknown as { highlights: unknown }).highlights = registry;
    const t = new TranscriptView(view(["one needle", "two needle needle"]));
    const bar = new FindBar(t);
    document.body.append(bar.el, t.el);
    bar.open("NEEDLE");
    bar.step(1);
    expect(registry.get("find-current")!.ranges.map((r) => [r.toString(), r.startOffset])).toEqual([["needle", 4]]);
    expect(registry.get("find-match")!.ranges).toHaveLength(2);
    // The DOM is untouched: one text node per message.
    expect(t.contentEl(1)!.childNodes).toHaveLength(1);
    bar.close();
    expect(registry.size).toBe(0);
  });
});

describe("search messages results", () => {
  it("show where each match is and its snippet as text, and open the match", () => {
    const opened: number[] = [];
    const item = matchItem(
      { conversation_id: "c1", conversation_title: "<b>T</b>", message_index: 4, role: "user", occurrences: 2, snippet: hostile },
      (m) => opened.push(m.message_index),
    );
    expect(item.querySelector("img, script, b")).toBeNull();
    expect(item.querySelector(".match-where")!.textContent).toBe("<b>T</b> · message 5 (user) · 2×");
    expect(item.querySelector(".match-snippet")!.textContent).toBe(hostile);
    item.querySelector("button")!.click();
    expect(opened).toEqual([4]);
  });
  it("report progress as conversations searched", () => {
    expect(messageSearchProgress({ conversations_done: 3, conversations_total: 12, matches: [] })).toEqual({ text: "3 of 12 conversations searched", fraction: 0.25 });
    expect(messageSearchProgress({ conversations_done: 0, conversations_total: 0, matches: [] }).fraction).toBeNull();
  });
});
