import { describe, expect, it } from "vitest";
import type { AuditVerification } from "../bindings/AuditVerification";
import { auditDamagedText, auditVerificationLines } from "./audit";

const verification = (over: Partial<AuditVerification>): AuditVerification => ({
  path: "/d/audit.jsonl", lines: 4, records: 4, damaged_lines: 0, chain_starts_at_line: 1, first_broken: null,
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
  });

  it("names the first broken line, where the chain starts and unfinished intents", () => {
    const lines = auditVerificationLines(verification({
      records: 5, damaged_lines: 1, chain_starts_at_line: 3, unfinished_intents: [7],
      first_broken: { line: 6, kind: "removed", message: "1 record(s) missing before line 6" },
    }));
    expect(lines).toEqual([
      "5 records, 1 damaged line",
      "The chain starts at line 3; earlier lines were written by an older version.",
      "Broken at line 6 (removed): 1 record(s) missing before line 6",
      "Intents without an outcome (done or not, unknown) at lines 7",
    ]);
  });
});
