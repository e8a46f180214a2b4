import { describe, expect, it } from "vitest";
import type { ConversationRow } from "./bindings/ConversationRow";
import type { UserSummary } from "./bindings/UserSummary";
import { filterUsers, isCold, moveSelection, sortRows, userLabel } from "./logic";

const user = (email: string | null, folder: string, source = "index"): UserSummary => ({
  folder, email, email_source: source as UserSummary["email_source"], conversation_count: 1,
  last_archived_at: null, index_missing: false, index_error: null,
});

const row = (id: string, title: string | null, archived: string | null, count: number | null, cls = "STANDARD"): ConversationRow => ({
  conversation_id: id, title, created_at: null, archived_at: archived, message_count: count, key: null, size: null,
  storage_class: cls, last_modified: null, in_index: true, in_store: true,
});

describe("filterUsers", () => {
  const users = [user("zoë.ünïcode@bücher.de", "zoë_ünïcode_at_bücher_de"), user("alice@example.com", "alice_at_example_com"), user(null, "legacy", "unknown")];
  it("matches any case, every word, email or folder", () => {
    expect(filterUsers(users, "ALICE").map((u) => u.folder)).toEqual(["alice_at_example_com"]);
    expect(filterUsers(users, "bücher zoë")).toHaveLength(1);
    expect(filterUsers(users, "legacy")).toHaveLength(1);
    expect(filterUsers(users, "  ")).toHaveLength(3);
    expect(filterUsers(users, "nobody")).toHaveLength(0);
  });
  it("labels guessed emails", () => {
    expect(userLabel(user("a@b.c", "a_at_b_c", "guessed"))).toBe("~a@b.c");
    expect(userLabel(user(null, "legacy", "unknown"))).toBe("legacy");
  });
});

describe("sortRows", () => {
  const rows = [row("a", "Beta", "2025-01-02", 10), row("b", "alpha", "2025-01-03", 2), row("c", null, null, null, "GLACIER")];
  it("sorts numbers as numbers and text by locale, both ways", () => {
    expect(sortRows(rows, "message_count", true).map((r) => r.conversation_id)).toEqual(["c", "b", "a"]);
    expect(sortRows(rows, "archived_at", false).map((r) => r.conversation_id)).toEqual(["b", "a", "c"]);
    expect(sortRows(rows, "title", true).map((r) => r.conversation_id)).toEqual(["c", "b", "a"]);
  });
  it("knows cold storage", () => {
    expect(rows.map(isCold)).toEqual([false, false, true]);
  });
});

describe("moveSelection", () => {
  it("moves with arrows and j/k within bounds", () => {
    expect(moveSelection(0, "j", 3)).toBe(1);
    expect(moveSelection(2, "ArrowDown", 3)).toBe(2);
    expect(moveSelection(0, "k", 3)).toBe(0);
    expect(moveSelection(1, "End", 3)).toBe(2);
    expect(moveSelection(0, "x", 3)).toBeNull();
    expect(moveSelection(0, "j", 0)).toBeNull();
  });
});
