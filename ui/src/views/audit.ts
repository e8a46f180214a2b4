// Texts of the audit view: damaged lines and the result of "Verify log".
import type { AuditVerification } from "../bindings/AuditVerification";
import type { ChainStatus } from "../bindings/ChainStatus";

/**
 * Every action the core writes to the audit log, for the audit view's
 * filter. The core records them as strings, so a test in the shell
 * (`cargo test -p archive-desk`) checks this list against its sources.
 */
export const AUDIT_ACTIONS = ["restore", "delete", "export", "export_user", "repair", "thaw"] as const;

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** Shown above the records when some lines of the log are not records. */
export function auditDamagedText(damaged: number): string {
  return `${plural(damaged, "damaged line")} in the log (not shown: a crash mid-write, or damage)`;
}

const STATUS_TEXT: Record<ChainStatus, string> = {
  empty: "The log is empty: nothing recorded yet.",
  intact: "Chain intact: no record edited, removed or inserted.",
  not_chained: "Not chained: no record carries a link (written by an older version, or the links were stripped), so nothing can be checked.",
  tail_not_anchored: "Not verified to the end: the chain is whole, but the head file next to the log is missing (written by an older version, or deleted), so records cut from the end would not show.",
  broken: "Broken.",
};

/** Whether "Verify log" found nothing wrong and could check everything. */
export function auditVerified(v: AuditVerification): boolean {
  return v.status === "intact" || v.status === "empty";
}

/** What "Verify log" found, one line each. */
export function auditVerificationLines(v: AuditVerification): string[] {
  const lines = [`${plural(v.records, "record")}, ${v.damaged_lines ? plural(v.damaged_lines, "damaged line") : "no damaged lines"}`];
  if (v.chain_starts_at_line !== null && v.chain_starts_at_line > 1) lines.push(`The chain starts at line ${v.chain_starts_at_line}; earlier lines were written by an older version.`);
  lines.push(v.first_broken ? `Broken at line ${v.first_broken.line} (${v.first_broken.kind}): ${v.first_broken.message}` : STATUS_TEXT[v.status]);
  if (v.unfinished_intents.length) lines.push(`Intents without an outcome (done or not, unknown) at lines ${v.unfinished_intents.join(", ")}`);
  return lines;
}
