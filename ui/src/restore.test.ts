import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { BulkRestoreReport } from "./bindings/BulkRestoreReport";
import type { RestorePreview } from "./bindings/RestorePreview";
import { bulkProgressView, liveText, loadLive, restore, restoreBulk } from "./restore";
import { state } from "./state";

// jsdom has <dialog> without its modal methods.
beforeAll(() => {
  const proto = HTMLDialogElement.prototype as HTMLDialogElement & { showModal: () => void; close: (v?: string) => void };
  proto.showModal = function (this: HTMLDialogElement) {
    this.open = true;
  };
  proto.close = function (this: HTMLDialogElement, value?: string) {
    this.returnValue = value ?? "";
    this.open = false;
    this.dispatchEvent(new Event("close"));
  };
});

afterEach(() => {
  clearMocks();
  document.body.replaceChildren();
});

/** The open dialog, once it shows. */
async function dialog(): Promise<HTMLDialogElement> {
  for (let i = 0; i < 100; i++) {
    const d = document.querySelector("dialog");
    if (d) return d;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("no dialog");
}

const preview: RestorePreview = {
  conversation_id: "c1", target: "rest", conversation_present: true, messages_in_archive: 6, messages_to_insert: 2,
  messages_already_present: 4, differences_count: 1, needs_allow_missing_columns: false,
  differences: [{ table: "messages", row_id: "m2", field: "content", archive: "<b>archived</b>", target: "edited since" }],
  dropped_fields: { conversations: [], messages: [] }, summary: "Restore 2 missing messages",
};

describe("restore preview", () => {
  it("shows differing fields side by side as text and names the action on its button", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "preview_restore") return preview;
      throw new Error(`unexpected ${cmd}`);
    });
    const done = restore("u", "c1");
    const d = await dialog();
    const cells = [...d.querySelectorAll("#preview-differences tbody td")].map((td) => td.textContent);
    expect(cells).toEqual(["messages m2", "content", '"<b>archived</b>"', '"edited since"']);
    expect(d.querySelector("b")).toBeNull();
    expect(d.textContent).toContain("Messages: 2 to insert, 4 already present");
    const buttons = [...d.querySelectorAll<HTMLButtonElement>(".modal-buttons button")];
    expect(buttons.map((b) => b.textContent)).toEqual(["Cancel", "Restore 2 missing messages"]);
    buttons[0].click();
    await done;
    expect(calls).toEqual(["preview_restore"]);
  });

  it("offers no restore when there is nothing to restore", async () => {
    mockIPC(() => ({ ...preview, messages_to_insert: 0, messages_already_present: 6, summary: "Nothing to restore" }));
    const done = restore("u", "c1");
    const d = await dialog();
    expect([...d.querySelectorAll(".modal-buttons button")].map((b) => b.textContent)).toEqual(["Cancel"]);
    d.querySelector<HTMLButtonElement>(".modal-buttons button")!.click();
    await done;
  });
});

describe("bulk restore", () => {
  it("sends all of the user in a date range as one task and shows each conversation's result", async () => {
    const report: BulkRestoreReport = {
      user: "u", restored: 1, already_there: 1, failed: 1, not_run: 0, cancelled: false, duration_ms: 5,
      conversations: [
        { conversation_id: "a", outcome: "restored", conversation_inserted: true, messages_inserted: 3, messages_already_present: 0, differences_count: 0, verified: true, error: null },
        { conversation_id: "b", outcome: "already_there", conversation_inserted: false, messages_inserted: 0, messages_already_present: 2, differences_count: 0, verified: true, error: null },
        { conversation_id: "c", outcome: "failed", conversation_inserted: false, messages_inserted: 0, messages_already_present: 0, differences_count: 0, verified: false, error: { code: "target_busy", message: "locked" } },
      ],
    };
    let sent: unknown = null;
    mockIPC((cmd, args) => {
      if (cmd === "restore_conversations") {
        sent = (args as { selection: unknown }).selection;
        return report;
      }
      throw new Error(`unexpected ${cmd}`);
    });
    const done = restoreBulk("u", "all");
    const ask = await dialog();
    ask.querySelector<HTMLInputElement>('input[aria-label="Archived from"]')!.value = "2025-02-01";
    [...ask.querySelectorAll<HTMLButtonElement>(".modal-buttons button")].find((b) => b.textContent === "Restore all")!.click();
    let shown: HTMLDialogElement | null = null;
    for (let i = 0; i < 100 && !shown; i++) {
      await new Promise((r) => setTimeout(r, 5));
      shown = document.querySelector("dialog #bulk-report")?.closest("dialog") ?? null;
    }
    expect(sent).toEqual({ kind: "all", since: "2025-02-01", until: null });
    const rows = [...shown!.querySelectorAll("tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent));
    expect(rows).toEqual([
      ["a", "Restored", "3", "0", ""],
      ["b", "Already there", "0", "2", ""],
      ["c", "Failed", "0", "0", "locked"],
    ]);
    shown!.querySelector<HTMLButtonElement>(".modal-buttons button")!.click();
    await done;
  });

  it("asks nothing for live status when the profile has no restore target, and fills the column when it has", async () => {
    const calls: string[] = [];
    mockIPC((cmd) => {
      calls.push(cmd);
      return [{ conversation_id: "c", conversation_present: false, messages_in_table: 0, messages_in_archive: 2, messages_missing: 2, state: "absent" }];
    });
    const cell = document.createElement("td");
    cell.dataset.live = "c";
    document.body.append(cell);
    state.profile = { name: "p", bucket: "b", endpoint: null, read_only: false, can_restore: false, users: null };
    state.user = { folder: "u" } as typeof state.user;
    await loadLive("u");
    expect(calls).toEqual([]);
    state.profile = { ...state.profile, can_restore: true };
    await loadLive("u");
    expect(calls).toEqual(["live_status"]);
    expect(cell.textContent).toBe("Not in Supabase");
    state.profile = null;
    state.user = null;
  });

  it("words progress and live status", () => {
    expect(bulkProgressView({ total: 4, done: 1, restored: 1, already_there: 0, failed: 0 })).toEqual({
      text: "1 of 4 conversations · 1 restored, 0 already there, 0 failed", fraction: 0.25,
    });
    const s = { conversation_id: "c", conversation_present: true, messages_in_table: 1, messages_in_archive: 3, messages_missing: 2 };
    expect(liveText({ ...s, state: "partial" })).toBe("2 missing");
    expect(liveText({ ...s, state: "complete" })).toBe("In Supabase");
    expect(liveText({ ...s, state: "absent" })).toBe("Not in Supabase");
  });
});
