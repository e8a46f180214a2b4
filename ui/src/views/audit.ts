// The audit view: the log's records (filtered by user, action and date),
// its damaged lines, the result of "Verify log", the export of what the
// filters keep (CSV or JSON) and the check of a deletion receipt.
import type { AuditAction } from "../bindings/AuditAction";
import type { AuditExportFormat } from "../bindings/AuditExportFormat";
import type { AuditQuery } from "../bindings/AuditQuery";
import type { AuditVerification } from "../bindings/AuditVerification";
import type { ChainStatus } from "../bindings/ChainStatus";
import { verifyReceipt } from "../customer";
import { AuditActions, AuditExportFormats, FilePurposes } from "../bindings/enums";
import { clear, h, when } from "../dom";
import { call, errorText } from "../ipc";
import { fail, say } from "../layout";
import { modal } from "./dialog";

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

/** The filters as the commands take them; empty fields filter nothing. */
export function auditQuery(user: string, action: string, since: string, until: string): AuditQuery {
  return {
    user: user.trim() || null,
    action: (action || null) as AuditAction | null,
    // A date picked for "from" starts at its midnight (UTC, as the log's times are).
    since: since ? `${since}T00:00:00Z` : null,
    until: until || null,
  };
}

async function exportAudit(query: AuditQuery, format: AuditExportFormat): Promise<void> {
  try {
    const file = await call("choose_file", { purpose: FilePurposes.ExportAudit, suggestedName: `audit.${format}` });
    if (!file) return;
    const r = await call("export_audit", { query, format, file: file.token });
    say(`Exported ${plural(r.records, "audit record")} to ${r.path}`, "ok");
  } catch (e) {
    fail(e);
  }
}

/** The audit log dialog. */
export async function showAudit(): Promise<void> {
  const user = h("input", { type: "text", placeholder: "user email", "aria-label": "User" });
  const action = h("select", { "aria-label": "Action" }, h("option", { value: "", text: "any action" }), ...Object.values(AuditActions).map((a) => h("option", { value: a, text: a })));
  const since = h("input", { type: "date", "aria-label": "From date" });
  const until = h("input", { type: "date", "aria-label": "Until date (inclusive)" });
  const query = () => auditQuery(user.value, action.value, since.value, until.value);
  const table = h("tbody");
  const damaged = h("p", { class: "error", id: "audit-damaged" });
  const verdict = h("div", { class: "report", id: "audit-verify" });
  const load = async () => {
    clear(table);
    damaged.textContent = "";
    try {
      const read = await call("read_audit", { query: query() });
      if (read.damaged_lines > 0) damaged.textContent = auditDamagedText(read.damaged_lines);
      if (read.records.length === 0) table.append(h("tr", {}, h("td", { colspan: "5", text: "Nothing recorded yet." })));
      for (const r of read.records) {
        table.append(h("tr", {}, h("td", { text: when(r.time) }), h("td", { text: r.action }), h("td", { text: r.outcome + (r.error_code ? ` (${r.error_code})` : "") }), h("td", { text: r.user_email ?? r.user_folder ?? "—" }), h("td", { text: r.conversation_ids.join(", ") })));
      }
    } catch (e) {
      table.append(h("tr", {}, h("td", { colspan: "5", class: "error", text: errorText(e) })));
    }
  };
  const verifyLog = async () => {
    clear(verdict);
    try {
      const v = await call("verify_audit", {});
      verdict.className = auditVerified(v) ? "report" : "report error";
      verdict.append(...auditVerificationLines(v).map((l) => h("p", { text: l })));
    } catch (e) {
      verdict.append(h("p", { class: "error", text: errorText(e) }));
    }
  };
  for (const input of [user, action, since, until]) input.addEventListener("change", load);
  await load();
  const verifyButton = h("button", { id: "verify-log", text: "Verify log", onclick: () => void verifyLog() });
  const exports = Object.values(AuditExportFormats).map((f) => h("button", { id: `export-audit-${f}`, text: `Export ${f.toUpperCase()}…`, title: "Every record the filters keep", onclick: () => void exportAudit(query(), f) }));
  const receiptButton = h("button", { id: "verify-receipt", text: "Verify a receipt…", title: "Check an erasure's receipt against the bucket", onclick: () => void verifyReceipt() });
  await modal("Audit log", h("div", { class: "audit" }, h("div", { class: "row" }, user, action, since, until), h("div", { class: "row" }, verifyButton, ...exports, receiptButton), verdict, damaged, h("table", {}, h("thead", {}, h("tr", {}, ...["When", "Action", "Outcome", "User", "Conversations"].map((t) => h("th", { text: t })))), table)), [{ label: "Close", value: "ok" }]);
}
