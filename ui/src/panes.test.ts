import { describe, expect, it } from "vitest";
import { clampWidths, DEFAULT_WIDTHS, loadWidths, saveWidths } from "./panes";

function memory(): Storage {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) } as Storage;
}

describe("pane widths", () => {
  it("are remembered, and the defaults when nothing or garbage is saved", () => {
    const s = memory();
    expect(loadWidths(s)).toEqual(DEFAULT_WIDTHS);
    saveWidths(s, { users: 333, conversations: 500 });
    expect(loadWidths(s)).toEqual({ users: 333, conversations: 500 });
    s.setItem("archive-desk.pane-widths", "{not json");
    expect(loadWidths(s)).toEqual(DEFAULT_WIDTHS);
    s.setItem("archive-desk.pane-widths", '{"users": "wide"}');
    expect(loadWidths(s)).toEqual(DEFAULT_WIDTHS);
  });
  it("keep every pane at least its minimum in the window", () => {
    expect(clampWidths({ users: 10, conversations: 10 }, 1280)).toEqual({ users: 180, conversations: 260 });
    // Too wide for the window: the open conversation keeps 320 px.
    expect(clampWidths({ users: 280, conversations: 2000 }, 1280)).toEqual({ users: 280, conversations: 680 });
    expect(clampWidths(DEFAULT_WIDTHS, 1280)).toEqual(DEFAULT_WIDTHS);
  });
});
