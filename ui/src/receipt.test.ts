import { describe, expect, it } from "vitest";
import type { ErasureReport } from "./bindings/ErasureReport";
import type { ReceiptVerification } from "./bindings/ReceiptVerification";
import { eraseProgressView, erasureReportLines, receiptFileName, receiptVerificationLines } from "./receipt";

const report = (over: Partial<ErasureReport["receipt"]>, receiptError: string | null = null): ErasureReport => ({
  receipt: {
    receipt: "archive-desk erasure receipt", profile: "prod", bucket: "b", endpoint: null, user_email: "a@x.io",
    user_folder: "a_at_x_io", operator: "desk", started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z",
    outcome: "complete", versioned_bucket: true,
    removed: [{ key: "p/a_at_x_io/c.json", version_id: "v1", delete_marker: false, sha256: "ab", bytes: 2, note: null }],
    index_entries_removed: [{ conversation_id: "c", sha256: "cd" }], index_deleted: true, kept: [], warnings: [], error: null,
    ...over,
  },
  receipt_path: "/home/desk/r.json", receipt_sha256: "ff", receipt_error: receiptError,
});

describe("erasure texts", () => {
  it("says how it ended, what went and where the receipt is", () => {
    expect(erasureReportLines(report({}))).toEqual([
      "Erased: nothing of this user is left in the archive.",
      "1 object version removed (versioned bucket: every version), 1 index entry; metadata.json removed",
      "Receipt saved: /home/desk/r.json",
      "Receipt SHA-256 (in the audit log): ff",
    ]);
  });

  it("lists what stays, the error, and a receipt that could not be saved", () => {
    const lines = erasureReportLines(report({ outcome: "failed", kept: [{ key: "p/a/x.txt", reason: "not a conversation" }], error: "s3: denied", index_deleted: false }, "disk full"));
    expect(lines[0]).toMatch(/^Erasure FAILED/);
    expect(lines).toContain("Kept: p/a/x.txt (not a conversation)");
    expect(lines).toContain("Error: s3: denied");
    expect(lines).toContain("The receipt could not be saved: disk full");
    expect(lines[1]).toMatch(/metadata.json kept$/);
  });

  it("shows progress by phase", () => {
    expect(eraseProgressView({ phase: "hashing", done: 1, total: 4 })).toEqual({ text: "hashing 1 of 4", fraction: 0.25 });
    expect(eraseProgressView({ phase: "checking", done: 0, total: 0 }).fraction).toBeNull();
  });

  it("proposes a receipt name with the folder and the date", () => {
    expect(receiptFileName("a_at_x_io", new Date("2026-03-04T05:06:07Z"))).toBe("erasure-receipt-a_at_x_io-2026-03-04.json");
  });
});

describe("receipt check texts", () => {
  const v = (over: Partial<ReceiptVerification>): ReceiptVerification => ({
    path: "/r.json", receipt_sha256: "ff", bucket: "b", user_folder: "a_at_x_io", user_email: "a@x.io", checked: 3,
    versions_checked: true, still_present: [], ...over,
  });
  it("verifies when nothing listed exists", () => {
    expect(receiptVerificationLines(v({}))[0]).toBe("Verified: none of the keys or versions it lists exists any more.");
  });
  it("names what is still there", () => {
    const lines = receiptVerificationLines(v({ versions_checked: false, still_present: [{ key: "p/c.json", version_id: null, found_as: "current object" }] }));
    expect(lines[0]).toBe("NOT verified: 1 listed key or version exists in the bucket.");
    expect(lines[1]).toMatch(/keys only/);
    expect(lines).toContain("Still present: p/c.json (current object)");
  });
});
