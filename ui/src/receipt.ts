// The words of the whole-customer requests (erasure, its receipt, the
// export for the customer), without DOM or IPC, so they are easy to test.
import type { CustomerExportReport } from "./bindings/CustomerExportReport";
import type { ErasePhase } from "./bindings/ErasePhase";
import type { EraseProgress } from "./bindings/EraseProgress";
import type { ErasureOutcome } from "./bindings/ErasureOutcome";
import type { ErasureReport } from "./bindings/ErasureReport";
import type { ReceiptVerification } from "./bindings/ReceiptVerification";
import { count, type ProgressView } from "./logic";

const PHASES: Record<ErasePhase, string> = {
  checking: "checking",
  hashing: "hashing",
  removing: "removing",
  index: "index",
};

export function eraseProgressView(p: EraseProgress): ProgressView {
  return {
    text: `${PHASES[p.phase]} ${p.done.toLocaleString()} of ${p.total.toLocaleString()}`,
    fraction: p.total > 0 ? p.done / p.total : null,
  };
}

const OUTCOMES: Record<ErasureOutcome, string> = {
  complete: "Erased: nothing of this user is left in the archive.",
  incomplete: "Erasure incomplete: something stays (listed below).",
  failed: "Erasure FAILED half-way: the receipt lists what was removed.",
};

function entries(n: number): string {
  return `${n.toLocaleString()} index ${n === 1 ? "entry" : "entries"}`;
}

/** The erasure's report, a line each; the first says how it ended. */
export function erasureReportLines(r: ErasureReport): string[] {
  const c = r.receipt;
  return [
    OUTCOMES[c.outcome],
    `${count(c.removed.length, "object version")} removed${c.versioned_bucket ? " (versioned bucket: every version)" : ""}, ${entries(c.index_entries_removed.length)}; metadata.json ${c.index_deleted ? "removed" : "kept"}`,
    ...c.kept.map((k) => `Kept: ${k.key} (${k.reason})`),
    ...c.warnings.map((w) => `Warning: ${w}`),
    ...(c.error ? [`Error: ${c.error}`] : []),
    r.receipt_error ? `The receipt could not be saved: ${r.receipt_error}` : `Receipt saved: ${r.receipt_path}`,
    `Receipt SHA-256 (in the audit log): ${r.receipt_sha256}`,
  ];
}

/** The receipt's check, a line each; the first is the verdict. */
export function receiptVerificationLines(v: ReceiptVerification): string[] {
  return [
    v.still_present.length === 0
      ? "Verified: none of the keys or versions it lists exists any more."
      : `NOT verified: ${v.still_present.length === 1 ? "1 listed key or version exists" : `${v.still_present.length.toLocaleString()} listed keys or versions exist`} in the bucket.`,
    `${v.checked.toLocaleString()} listed ${v.checked === 1 ? "key or version" : "keys and versions"} checked in ${v.bucket} for ${v.user_email ?? v.user_folder}${v.versions_checked ? "" : " (keys only: this store lists no versions)"}`,
    ...v.still_present.map((p) => `Still present: ${p.key}${p.version_id ? ` version ${p.version_id}` : ""} (${p.found_as})`),
    `Receipt SHA-256: ${v.receipt_sha256}`,
  ];
}

/** The export for the customer, in one line. */
export function customerExportLine(r: CustomerExportReport): string {
  return `Exported ${count(r.conversations, "conversation")} (${count(r.messages, "message")}, ${count(r.files, "file")} and manifest.json) to ${r.path}${r.skipped.length ? `; ${r.skipped.length} skipped` : ""}`;
}

/** A file name the save dialog proposes for an erasure's receipt. */
export function receiptFileName(folder: string, now: Date): string {
  return `erasure-receipt-${folder}-${now.toISOString().slice(0, 10)}.json`;
}
