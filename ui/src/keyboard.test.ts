import { describe, expect, it } from "vitest";
import { keyName, shortcutSheet, SHORTCUTS } from "./keyboard";

const key = (init: KeyboardEventInit) => new KeyboardEvent("keydown", init);

describe("keyboard", () => {
  it("names keys the way the table spells them", () => {
    expect(keyName(key({ key: "f", ctrlKey: true }))).toBe("Ctrl+F");
    expect(keyName(key({ key: "f", metaKey: true }))).toBe("Ctrl+F");
    expect(keyName(key({ key: "?", shiftKey: true }))).toBe("?");
    expect(keyName(key({ key: "Enter", shiftKey: true }))).toBe("Shift+Enter");
    expect(keyName(key({ key: "ArrowDown" }))).toBe("ArrowDown");
    expect(keyName(key({ key: "/" }))).toBe("/");
  });

  it("the ? sheet lists every shortcut of the table, and only those", () => {
    const sheet = shortcutSheet();
    const rows = [...sheet.querySelectorAll("tr")].map((tr) => [
      [...tr.querySelectorAll("kbd")].map((k) => k.textContent),
      tr.querySelector("td")!.textContent,
    ]);
    expect(rows).toHaveLength(SHORTCUTS.length);
    for (const s of SHORTCUTS) expect(rows).toContainEqual([s.keys, s.does]);
    expect(rows.map((r) => r[1])).toContain("Find in the open transcript (Cmd+F on macOS)");
  });
});
