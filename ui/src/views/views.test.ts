import { afterEach, describe, expect, it, vi } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ConversationView } from "../bindings/ConversationView";
import { call } from "../ipc";
import type { SearchHit } from "../bindings/SearchHit";
import type { ConversationRow } from "../bindings/ConversationRow";
import { renderCold } from "./cold";
import { SearchResults } from "./search";
import { TaskBar } from "./tasks";
import { renderRaw, renderTranscript, TranscriptView } from "./transcript";
import { UserList } from "./users";

const hostile = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\u001b[2J';

function view(n: number): ConversationView {
  return {
    key: "archived_conversations/u/c.json", encoding: "plain", id: "c", title: "<b>t</b>", created_at: null,
    archived_at: null, user_email: null,
    messages: Array.from({ length: n }, (_, i) => ({
      id: `m${i}`, role: i % 2 ? "assistant" : "user", created_at: "2025-01-15T10:00:00Z", feedback: i === 1 ? "positive" : null,
      content: i === 0 ? hostile : `line one\nline two ${i}`,
    })),
    message_count: n,
  };
}

afterEach(() => clearMocks());

describe("transcript", () => {
  it("renders untrusted content as text: no element, no script", () => {
    const el = renderTranscript(view(3));
    document.body.append(el);
    expect(el.querySelector("img, script, b")).toBeNull();
    expect(el.querySelector(".content")!.textContent).toBe(hostile);
    expect((window as unknown as { __xss?: number }).__xss).toBeUndefined();
    expect(el.querySelectorAll(".msg")[1].querySelector(".feedback")!.textContent).toBe("feedback: positive");
    const json = JSON.stringify({ content: hostile }, null, 2);
    const raw = renderRaw(json);
    expect(raw.querySelector("*")).toBeNull();
    expect(raw.textContent).toBe(json);
    el.remove();
  });

  it("renders a 10k-message conversation a batch at a time", () => {
    const el = renderTranscript(view(10_000));
    expect(el.querySelectorAll(".msg").length).toBe(200);
    // Scrolled to its end (jsdom has no layout: every scroll is at the end).
    el.dispatchEvent(new Event("scroll"));
    expect(el.querySelectorAll(".msg").length).toBe(400);
    expect(el.querySelectorAll(".msg")[2].querySelector(".content")!.textContent).toBe("line one\nline two 2");
  });

  it("opens with the first messages and renders the rest once they come", () => {
    const all = view(1_000);
    const t = new TranscriptView({ ...all, messages: all.messages.slice(0, 200) });
    expect(t.el.querySelectorAll(".msg").length).toBe(200);
    expect(t.complete).toBe(false);
    // At the end of what came: the place for more stays.
    expect(t.el.querySelector(".sentinel")).not.toBeNull();
    t.el.dispatchEvent(new Event("scroll"));
    expect(t.el.querySelectorAll(".msg").length).toBe(200);
    // The rest comes while the reader is at the end: the next batch shows.
    t.append(all.messages.slice(200));
    expect(t.complete).toBe(true);
    expect(t.el.querySelectorAll(".msg").length).toBe(400);
    for (let i = 0; i < 3; i++) t.el.dispatchEvent(new Event("scroll"));
    expect(t.el.querySelectorAll(".msg").length).toBe(1_000);
    expect(t.el.querySelector(".sentinel")).toBeNull();
    expect(t.el.querySelectorAll(".msg")[999].getAttribute("data-index")).toBe("999");
  });
});

describe("user list", () => {
  it("keeps only the rows in view in the DOM", () => {
    const list = new UserList(() => {});
    const users = Array.from({ length: 5000 }, (_, i) => ({
      folder: `u${i}`, email: `u${i}@x.io`, email_source: "index" as const, conversation_count: i,
      last_archived_at: null, index_missing: false, index_error: null,
    }));
    list.set(users);
    const rendered = list.el.querySelectorAll(".user-row").length;
    expect(rendered).toBeGreaterThan(0);
    expect(rendered).toBeLessThan(100);
    list.select(4000);
    expect(list.current!.folder).toBe("u4000");
  });
});

describe("ipc", () => {
  it("calls the allow-listed command with typed arguments", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "open_conversation") return view(1);
      if (cmd === "delete_conversations") return { deleted_keys: ["k"], deleted_versions: 1, versioned_bucket: false, index_entries_removed: 1, not_found: [], warnings: [] };
      return null;
    });
    const v = await call("open_conversation", { user: "alice_at_example_com", id: "c" });
    expect(v.id).toBe("c");
    const d = await call("delete_conversations", { user: "alice_at_example_com", ids: ["c"] });
    expect(d.index_entries_removed).toBe(1);
    expect(calls).toEqual([
      ["open_conversation", { user: "alice_at_example_com", id: "c" }],
      ["delete_conversations", { user: "alice_at_example_com", ids: ["c"] }],
    ]);
  });
});

describe("search results", () => {
  const hit = (folder: string, id: string, title: string): SearchHit => ({
    matched: "title_prefix", email: `${folder}@x.io`, folder, conversation_id: id, title, created_at: null,
    archived_at: "2025-01-15T10:00:00Z", message_count: 3, storage_class: "GLACIER",
  });

  it("groups hits under their user, renders titles as text and opens what is clicked", () => {
    const opened: string[] = [];
    const users: string[] = [];
    const view = new SearchResults((folder) => users.push(folder), (h) => opened.push(h.conversation_id));
    let more = 0;
    view.show("refund", [hit("a", "1", hostile), hit("a", "2", "Refund"), hit("b", "3", "Refund too")], () => more++);
    expect(view.el.querySelectorAll(".hit-user")).toHaveLength(2);
    expect(view.el.querySelectorAll(".hit")).toHaveLength(3);
    expect(view.el.querySelector("img, script")).toBeNull();
    expect(view.el.querySelector(".hit-title")!.textContent).toBe(hostile);
    expect(view.el.querySelector(".badge.cold")!.textContent).toBe("GLACIER");
    view.el.querySelectorAll<HTMLElement>(".hit")[2].click();
    view.el.querySelector<HTMLElement>(".hit-user")!.click();
    view.el.querySelector<HTMLElement>("button.more")!.click();
    expect([opened, users, more]).toEqual([["3"], ["a"], 1]);
    expect(view.current!.conversation_id).toBe("3");
  });

  it("names users matched by email whose index holds no conversation, as text", () => {
    const users: string[] = [];
    const view = new SearchResults((folder) => users.push(folder), () => {});
    view.show("empty@x.io", [], null, [
      { folder: "empty_at_x_io", email: hostile, matched: "email", index_error: null },
      { folder: "bad_at_x_io", email: "bad@x.io", matched: "email_prefix", index_error: "bad_at_x_io/metadata.json: not JSON" },
    ]);
    expect(view.el.querySelector(".empty h2")).toBeNull();
    expect(view.el.querySelector("img, script")).toBeNull();
    const buttons = view.el.querySelectorAll<HTMLElement>(".empty-user");
    expect([...buttons].map((b) => b.textContent)).toEqual([hostile, "bad@x.io"]);
    expect(view.el.textContent).toContain("Its index holds no conversation.");
    expect(view.el.textContent).toContain("metadata.json unreadable, so no conversation listed: bad_at_x_io/metadata.json: not JSON");
    buttons[1].click();
    expect(users).toEqual(["bad_at_x_io"]);
  });

  it("shows the user found in the bucket first, not “No matches”", () => {
    const users: string[] = [];
    const view = new SearchResults((folder) => users.push(folder), () => {});
    const found = { folder: "late_at_x_io", email: "late@x.io", email_source: "index" as const, conversation_count: 3, last_archived_at: null, index_missing: false, index_error: null };
    view.show("late@x.io", [], null, [], found);
    expect(view.el.querySelector(".empty")).toBeNull();
    expect(view.el.querySelector(".found-user")!.textContent).toBe("late@x.io");
    expect(view.el.textContent).toContain("Read from the bucket now: 3 conversations");
    view.el.querySelector<HTMLElement>(".found-user")!.click();
    expect(users).toEqual(["late_at_x_io"]);
    // Named once: the catalog's "no conversation" entry is enough.
    view.show("late@x.io", [], null, [{ folder: "late_at_x_io", email: "late@x.io", matched: "email", index_error: null }], found);
    expect(view.el.querySelector(".found-user")).toBeNull();
    expect(view.el.querySelectorAll(".empty-user")).toHaveLength(1);
  });

  it("says so when nothing matches and offers no more", () => {
    const view = new SearchResults(() => {}, () => {});
    view.show("zzz", [], null);
    expect(view.el.querySelector(".empty h2")!.textContent).toBe("No matches");
    expect(view.el.querySelector("button.more")).toBeNull();
  });
});

describe("task bar", () => {
  it("shows progress, cancels the task by its id and goes away when it ends", async () => {
    const cancelled: unknown[] = [];
    mockIPC((cmd, args) => {
      if (cmd === "cancel_task") cancelled.push(args);
      return true;
    });
    const bar = new TaskBar();
    let finish!: (v: string) => void;
    let taskId = "";
    const done = bar.run<number, string>(
      "Exporting",
      (task, onProgress) => {
        taskId = task;
        onProgress(0.5);
        return new Promise((resolve) => (finish = resolve));
      },
      (p) => ({ text: `${p * 100}%`, fraction: p }),
    );
    const row = bar.el.querySelector(".task")!;
    expect(row.querySelector("progress")!.value).toBe(0.5);
    expect(row.querySelector(".task-text")!.textContent).toBe("50%");
    row.querySelector<HTMLButtonElement>(".task-cancel")!.click();
    expect(row.querySelector(".task-text")!.textContent).toBe("cancelling…");
    finish("ok");
    expect(await done).toBe("ok");
    expect(cancelled).toEqual([{ task: taskId }]);
    expect(bar.el.querySelector(".task")).toBeNull();
  });
});

describe("cold view", () => {
  const row: ConversationRow = {
    conversation_id: "c1", title: null, created_at: null, archived_at: null, message_count: null, key: "k", size: 1,
    storage_class: "GLACIER", last_modified: null, in_index: true, in_store: true, held: null, hold_unknown: false,
  };

  it("requests a restore with the chosen days and tier (Standard first), then opens it once readable", async () => {
    const calls: [string, unknown][] = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      return cmd === "thaw_conversation" ? { state: "restoring" } : { state: "available", until: "2026-01-01" };
    });
    let opened = 0;
    const el = renderCold(row, "alice_at_x_io", false, async () => void opened++);
    expect([...el.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["Standard", "Bulk", "Expedited"]);
    const [request, check] = [...el.querySelectorAll("button")];
    request.click();
    await vi.waitFor(() => expect(el.querySelector("[role=status]")!.textContent).toBe("Restore in progress. Check again later."));
    check.click();
    await vi.waitFor(() => expect(opened).toBe(1));
    expect(calls).toEqual([
      ["thaw_conversation", { user: "alice_at_x_io", id: "c1", days: 7, tier: "standard" }],
      ["cold_status", { user: "alice_at_x_io", id: "c1" }],
    ]);
  });

  it("offers no restore on a read-only profile", () => {
    const el = renderCold(row, "alice_at_x_io", true, async () => {});
    expect([...el.querySelectorAll("button")].map((b) => b.textContent)).toEqual(["Check status"]);
  });
});
