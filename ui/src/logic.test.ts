import { describe, expect, it } from "vitest";
import type { ConversationRow } from "./bindings/ConversationRow";
import type { UserSummary } from "./bindings/UserSummary";
import type { SearchHit } from "./bindings/SearchHit";
import {
  ago, bytes, deleteReportLines, exportFileName, exportProgressView, filterUsers, groupHits, isCold, moveSelection,
  namesOneUser, rowNotes, sortRows, summaryOfListing, syncDoneText, syncProgressView, userLabel, usersAfterErasure,
} from "./logic";

const user = (email: string | null, folder: string, source = "index"): UserSummary => ({
  folder, email, email_source: source as UserSummary["email_source"], conversation_count: 1,
  last_archived_at: null, index_missing: false, index_error: null,
});

const row = (id: string, title: string | null, archived: string | null, count: number | null, cls = "STANDARD"): ConversationRow => ({
  conversation_id: id, title, created_at: null, archived_at: archived, message_count: count, key: null, size: null,
  storage_class: cls, last_modified: null, in_index: true, in_store: true, held: null, hold_unknown: false,
});

describe("the users list after an erasure", () => {
  const listing = (conversations: ConversationRow[], indexMissing: boolean, other: string[] = []) => ({
    folder: "a_at_b_c", email: "a@b.c", email_source: "index" as const, index_missing: indexMissing, index_error: null, other_objects: other, conversations,
  });
  const users = [user("z@y.x", "z_at_y_x"), { ...user("a@b.c", "a_at_b_c"), conversation_count: 5 }];
  it("drops the user once nothing of theirs is left, or when they cannot be listed", () => {
    expect(usersAfterErasure(users, "a_at_b_c", listing([], true)).map((u) => u.folder)).toEqual(["z_at_y_x"]);
    expect(usersAfterErasure(users, "a_at_b_c", null).map((u) => u.folder)).toEqual(["z_at_y_x"]);
  });
  it("keeps a user with something left, showing what is left", () => {
    const left = usersAfterErasure(users, "a_at_b_c", listing([row("x", "t", "2025-01-02T00:00:00Z", 3)], false));
    expect(left.map((u) => [u.folder, u.conversation_count])).toEqual([["z_at_y_x", 1], ["a_at_b_c", 1]]);
    expect(usersAfterErasure(users, "a_at_b_c", listing([], true, ["a_at_b_c/notes.txt"])).length).toBe(2);
  });
});

describe("exact look-up", () => {
  it("is tried for a complete email or a folder name only", () => {
    for (const text of ["alice@example.com", "zoë.ünïcode@bücher.de", "a+b@x.co", "alice_at_example_com"]) expect(namesOneUser(text), text).toBe(true);
    for (const text of ["alice", "alice@", "alice@example", "alice@example.", "a b@x.io", "@x.io", "refund at 5", "../a_at_b"]) expect(namesOneUser(text), text).toBe(false);
  });
  it("makes the users list's row of a looked-up user from its index entries", () => {
    const orphan = { ...row("o", null, "2025-09-01T00:00:00Z", null), in_index: false };
    const u = summaryOfListing({
      folder: "a_at_b_c", email: "a@b.c", email_source: "index", index_missing: false, index_error: null, other_objects: [],
      conversations: [row("x", "t", "2025-01-02T00:00:00Z", 3), row("y", "u", null, 1), row("z", "v", "2025-03-01T00:00:00Z", 2), orphan],
    });
    expect(u).toEqual({ ...user("a@b.c", "a_at_b_c"), conversation_count: 3, last_archived_at: "2025-03-01T00:00:00Z" });
  });
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

describe("progress", () => {
  const sync = { users_listed: 1200, users_done: 0, estimated_total: 0, listing_complete: false, indexes_fetched: 0, resumed: false };
  it("has no fraction while a first listing runs, then counts users", () => {
    expect(syncProgressView(sync)).toEqual({ text: "Listing the bucket… 1,200 users so far", fraction: null });
    const v = syncProgressView({ ...sync, users_done: 300, estimated_total: 1200, listing_complete: true, indexes_fetched: 300, resumed: true });
    expect(v.fraction).toBe(0.25);
    expect(v.text).toBe("300 of 1,200 users · 300 index(es) fetched (resuming)");
    // A warm sync knows the old total before the listing ends; done may pass it.
    expect(syncProgressView({ ...sync, users_done: 1300, estimated_total: 1200 }).fraction).toBe(1);
  });
  it("says where a finished sync's concurrency settled", () => {
    const limit = (settled: number) => ({ ceiling: 256, settled, peak: 256, backoffs: 0 });
    const report = {
      resumed: false, reset: false, list_requests: 40, list_ranges: 37, objects_listed: 110_000, users_listed: 10_000,
      indexes_fetched: 100, users_unchanged: 9_900, storage_class_updates: 0, users_dropped: 0, index_errors: 0,
      unusable_folders: [], users: 10_000, conversations: 100_000, elapsed_ms: 1_234,
      fetch_concurrency: limit(128), list_concurrency: limit(32),
    };
    expect(syncDoneText(report)).toBe(
      "Catalog synced: 10,000 users, 100,000 conversations; 100 indexes fetched in 1.2 s · 128 fetches and 32 listings at once (of 256)",
    );
  });
  it("counts conversations and bytes of an export", () => {
    expect(exportProgressView({ conversations_done: 1, conversations_total: 4, json_bytes: 2_500_000 })).toEqual({
      text: "1 of 4 conversations · 2.5 MB", fraction: 0.25,
    });
    expect(exportProgressView({ conversations_done: 0, conversations_total: 0, json_bytes: 0 }).fraction).toBeNull();
    expect(bytes(999)).toBe("999 B");
    expect(bytes(12_345_678)).toBe("12 MB");
  });
  it("says how long ago", () => {
    const now = Date.parse("2026-01-10T12:00:00Z");
    expect(ago(null, now)).toBe("never");
    expect(ago("2026-01-10T11:59:30Z", now)).toBe("just now");
    expect(ago("2026-01-10T11:15:00Z", now)).toBe("45 min ago");
    expect(ago("2026-01-09T12:00:00Z", now)).toBe("24 h ago");
    expect(ago("2026-01-01T12:00:00Z", now)).toBe("9 days ago");
  });
});

describe("search and export helpers", () => {
  const hit = (folder: string, id: string): SearchHit => ({
    matched: "title_contains", email: `${folder}@x.io`, folder, conversation_id: id, title: id, created_at: null,
    archived_at: null, message_count: 1, storage_class: "STANDARD",
  });
  it("groups runs of hits by user, keeping rank order", () => {
    const groups = groupHits([hit("a", "1"), hit("a", "2"), hit("b", "3"), hit("a", "4")]);
    expect(groups.map((g) => [g.folder, g.hits.map((h) => h.conversation_id)])).toEqual([
      ["a", ["1", "2"]], ["b", ["3"]], ["a", ["4"]],
    ]);
  });
  it("names export files by format", () => {
    expect(exportFileName("alice_at_x_io", "json", false)).toBe("alice_at_x_io.json");
    expect(exportFileName("alice_at_x_io", "json_lines", true)).toBe("alice_at_x_io.jsonl.gz");
  });
});

describe("held objects and delete reports", () => {
  it("notes an Object Lock hold beside drift", () => {
    expect(rowNotes(row("a", null, null, 1))).toBe("");
    expect(rowNotes({ ...row("a", null, null, 1), held: "legal hold ON" })).toBe("held: legal hold ON");
    expect(rowNotes({ ...row("a", null, null, 1), hold_unknown: true })).toBe("hold unknown");
    expect(rowNotes({ ...row("a", null, null, 1), in_index: false, hold_unknown: true })).toBe("not in index, hold unknown");
    expect(rowNotes({ ...row("a", null, null, 1), in_index: false, held: "retention COMPLIANCE until 2030-01-01T00:00:00Z" }))
      .toBe("not in index, held: retention COMPLIANCE until 2030-01-01T00:00:00Z");
  });
  it("lists every warning of a delete report", () => {
    const lines = deleteReportLines({
      deleted_keys: ["p/u/a.json", "p/u/b.json"], deleted_versions: 3, versioned_bucket: true, index_entries_removed: 2,
      not_found: ["gone"], warnings: ["versions could not be listed", "something else"],
    });
    expect(lines).toEqual([
      "Deleted 2 objects (3 versions, every stored version), 2 index entries",
      "Not found: gone",
      "Warning: versions could not be listed",
      "Warning: something else",
    ]);
  });
});
