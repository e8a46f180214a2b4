// The audit view: the log's records (filtered by user and action), its
// damaged lines and the result of "Verify log".
import type { AuditAction } from "../bindings/AuditAction";
import type { AuditVerification } from "../bindings/AuditVerification";
import type { ChainStatus } from "../bindings/ChainStatus";
import { AuditActions } from "../bindings/enums";
import { clear, h, when } from "../dom";
import { call, errorText } from "../ipc";
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

/** The audit log dialog. */
export async function showAudit(): Promise<void> {
  const user = h("input", { type: "text", placeholder: "user email", "aria-label": "User" });
  const action = h("select", { "aria-label": "Action" }, h("option", { value: "", text: "any action" }), ...Object.values(AuditActions).map((a) => h("option", { value: a, text: a })));
  const table = h("tbody");
  const damaged = h("p", { class: "error", id: "audit-damaged" });
  const verdict = h("div", { class: "report", id: "audit-verify" });
  const load = async () => {
    clear(table);
    damaged.textContent = "";
    try {
      const read = await call("read_audit", { query: { user: user.value || null, action: (action.value || null) as AuditAction | null, since: null } });
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
  user.addEventListener("change", load);
  action.addEventListener("change", load);
  await load();
  const verifyButton = h("button", { id: "verify-log", text: "Verify log", onclick: () => void verifyLog() });
  await modal("Audit log", h("div", { class: "audit" }, h("div", { class: "row" }, user, action, verifyButton), verdict, damaged, h("table", {}, h("thead", {}, h("tr", {}, ...["When", "Action", "Outcome", "User", "Conversations"].map((t) => h("th", { text: t })))), table)), [{ label: "Close", value: "ok" }]);
}
