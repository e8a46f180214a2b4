import { describe, expect, it } from "vitest";
import type { AuditVerification } from "../bindings/AuditVerification";
import { auditDamagedText, auditQuery, auditVerificationLines, auditVerified } from "./audit";

const verification = (over: Partial<AuditVerification>): AuditVerification => ({
  path: "/d/audit.jsonl", status: "intact", lines: 4, records: 4, damaged_lines: 0, chain_starts_at_line: 1, first_broken: null,
  unfinished_intents: [], ...over,
});

describe("audit view texts", () => {
  it("counts damaged lines", () => {
    expect(auditDamagedText(1)).toMatch(/^1 damaged line in the log/);
    expect(auditDamagedText(3)).toMatch(/^3 damaged lines in the log/);
  });

  it("says an intact chain is intact", () => {
    expect(auditVerificationLines(verification({}))).toEqual([
      "4 records, no damaged lines",
      "Chain intact: no record edited, removed or inserted.",
    ]);
    expect(auditVerified(verification({}))).toBe(true);
  });

  it("never calls a log without links, or without its head file, intact", () => {
    const notChained = verification({ status: "not_chained", chain_starts_at_line: null });
    expect(auditVerificationLines(notChained)[1]).toMatch(/^Not chained: /);
    const unanchored = verification({ status: "tail_not_anchored" });
    expect(auditVerificationLines(unanchored)[1]).toMatch(/^Not verified to the end: .*head file/);
    for (const v of [notChained, unanchored]) {
      expect(auditVerified(v)).toBe(false);
      expect(auditVerificationLines(v).join(" ")).not.toMatch(/intact/);
    }
  });

  it("names the first broken line, where the chain starts and unfinished intents", () => {
    const lines = auditVerificationLines(verification({
      status: "broken", records: 5, damaged_lines: 1, chain_starts_at_line: 3, unfinished_intents: [7],
      first_broken: { line: 6, kind: "removed", message: "1 record missing before line 6" },
    }));
    expect(lines).toEqual([
      "5 records, 1 damaged line",
      "The chain starts at line 3; earlier lines were written by an older version.",
      "Broken at line 6 (removed): 1 record missing before line 6",
      "Intents without an outcome (done or not, unknown) at lines 7",
    ]);
  });
});

describe("audit filters", () => {
  it("sends empty fields as no filter and a from-date as its midnight UTC", () => {
    expect(auditQuery(" ", "", "", "")).toEqual({ user: null, action: null, since: null, until: null });
    expect(auditQuery("a@x.io", "erase_user", "2026-03-01", "2026-03-31")).toEqual({
      user: "a@x.io", action: "erase_user", since: "2026-03-01T00:00:00Z", until: "2026-03-31",
    });
  });
});
