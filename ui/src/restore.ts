// Restores into Supabase: the preview before one (what it will do, rows
// that differ side by side, a button that says it), the bulk restore of
// several or all of a user's conversations (one task, a result table),
// and the live status column of the conversations list (read in batches
// by the core; nothing when the profile has no restore target).
import type { BulkOutcome } from "./bindings/BulkOutcome";
import type { BulkProgress } from "./bindings/BulkProgress";
import type { BulkRestoreReport } from "./bindings/BulkRestoreReport";
import type { Difference } from "./bindings/Difference";
import type { LiveStatus } from "./bindings/LiveStatus";
import type { Selection } from "./bindings/Selection";
import { refreshSearch } from "./browse";
import { openUser } from "./conversations";
import { h } from "./dom";
import { call, channel, errorText, isCancelled } from "./ipc";
import { fail, say, sayDone, tasks } from "./layout";
import { count, type ProgressView } from "./logic";
import { state } from "./state";
import { modal } from "./views/dialog";

/** Live status by conversation id, for the open user; null when not shown. */
let live: Map<string, LiveStatus> | null = null;

/** The text of a conversation's live status cell. */
export function liveText(s: LiveStatus | undefined): string {
  if (!s) return live ? "—" : "…";
  switch (s.state) {
    case "absent":
      return "Not in Supabase";
    case "complete":
      return "In Supabase";
    case "present":
      return "Row present";
    case "partial":
      return s.messages_missing ? `${s.messages_missing} missing` : `Partial (${count(s.messages_in_table, "message")})`;
  }
}

/** The live status cell of a row (the column exists only with a restore target). */
export function liveCell(id: string): HTMLElement {
  const s = live?.get(id);
  return h("td", { class: `live ${s?.state ?? ""}`, "data-live": id, text: liveText(s) });
}

/** Read the open user's live status and fill the column; a failure is said, not thrown. */
export async function loadLive(folder: string): Promise<void> {
  live = null;
  if (!state.profile?.can_restore) return;
  const generation = state.generation;
  try {
    const found = await call("live_status", { user: folder });
    if (generation !== state.generation || state.user?.folder !== folder) return;
    live = new Map((found ?? []).map((s) => [s.conversation_id, s]));
  } catch (e) {
    say(`Live status unavailable: ${errorText(e)}`, "error");
    live = new Map();
  }
  document.querySelectorAll<HTMLElement>("td[data-live]").forEach((td) => {
    const s = live?.get(td.dataset.live ?? "");
    td.className = `live ${s?.state ?? ""}`;
    td.textContent = liveText(s);
  });
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** Differing fields side by side: the archive's value and the table's. */
function differencesTable(ds: Difference[]): HTMLElement {
  return h("table", { class: "differences", id: "preview-differences" },
    h("thead", {}, h("tr", {}, h("th", { text: "Row" }), h("th", { text: "Field" }), h("th", { text: "Archive" }), h("th", { text: "Supabase now" }))),
    h("tbody", {}, ...ds.map((d) => h("tr", {},
      h("td", { text: `${d.table} ${d.row_id}` }), h("td", { text: d.field }),
      h("td", { class: "value", text: clip(JSON.stringify(d.archive)) }), h("td", { class: "value", text: clip(JSON.stringify(d.target)) })))));
}

/** Preview a restore of one conversation, then do it if the person agrees. */
export async function restore(user: string, id: string): Promise<void> {
  let p;
  try {
    p = await call("preview_restore", { user, id, allowMissingColumns: false });
  } catch (e) {
    fail(e);
    return;
  }
  const remove = h("input", { type: "checkbox" });
  const allow = h("input", { type: "checkbox" });
  const nothing = p.messages_to_insert === 0 && p.conversation_present;
  const choice = await modal("Restore to Supabase", h("div", { id: "restore-preview" },
    h("p", { text: `Conversation row: ${p.conversation_present ? "present (kept)" : "new"}` }),
    h("p", { text: `Messages: ${p.messages_to_insert} to insert, ${p.messages_already_present} already present (${p.messages_in_archive} in the archive)` }),
    p.differences_count > 0 ? h("p", { text: `Fields of rows already there that differ from the archive: ${p.differences_count}. The restore leaves them as they are and reports them:` }) : null,
    p.differences.length ? differencesTable(p.differences) : null,
    p.needs_allow_missing_columns ? h("label", { class: "check" }, allow, ` Restore without the fields the tables lack: ${[...p.dropped_fields.conversations.map((f) => `conversations.${f}`), ...p.dropped_fields.messages.map((f) => `messages.${f}`)].join(", ")}`) : null,
    nothing ? null : h("label", { class: "check" }, remove, " Then remove it from the archive (after the restore is verified)"),
  ), [{ label: "Cancel", value: "cancel" }, ...(nothing ? [] : [{ label: p.summary, value: "ok" }])]);
  if (choice !== "ok") return;
  try {
    const r = await tasks.run(`Restoring ${id}`, (task) => call("restore_conversation", { user, id, allowMissingColumns: allow.checked, removeFromArchive: remove.checked, task }), () => ({ text: "restoring…", fraction: null }));
    await modal("Restore done", h("div", { class: "report", id: "restore-report" },
      h("p", { text: `Conversation: ${r.conversation_inserted ? "inserted" : "already present"}` }),
      h("p", { text: `Messages: ${r.messages_inserted} inserted, ${r.messages_already_present} already present (${r.messages_in_table} in the table)` }),
      h("p", { text: `Verified: ${r.verified ? "yes" : "NO"} · ${r.target}${r.atomic ? ", one transaction" : ""} · ${r.duration_ms} ms` }),
      r.differences.length ? differencesTable(r.differences) : null,
      r.removed_from_archive ? h("p", { text: `Removed from the archive: ${r.removed_from_archive.deleted_keys.join(", ")}` }) : null,
      ...(r.removed_from_archive?.warnings ?? []).map((w) => h("p", { class: "error", text: `Warning: ${w}` })),
    ), [{ label: "Close", value: "ok" }]);
    sayDone(`Restored ${id}`, r.audit_warning);
    if (r.removed_from_archive && state.user) {
      await openUser(state.user);
      await refreshSearch();
    } else await loadLive(user);
  } catch (e) {
    if (isCancelled(e)) say(`Restore of ${id} cancelled; nothing was written.`);
    else fail(e);
  }
}

export function bulkProgressView(p: BulkProgress): ProgressView {
  return {
    text: `${p.done} of ${count(p.total, "conversation")} · ${p.restored} restored, ${p.already_there} already there, ${p.failed} failed`,
    fraction: p.total > 0 ? p.done / p.total : null,
  };
}

export function outcomeText(o: BulkOutcome): string {
  return { restored: "Restored", already_there: "Already there", failed: "Failed", not_run: "Not run" }[o];
}

function bulkReport(r: BulkRestoreReport): HTMLElement {
  return h("div", { class: "report", id: "bulk-report" },
    h("p", { text: `${r.restored} restored, ${r.already_there} already there, ${r.failed} failed${r.not_run ? `, ${r.not_run} not run (run it again to finish)` : ""}` }),
    h("table", { class: "bulk-results" },
      h("thead", {}, h("tr", {}, h("th", { text: "Conversation" }), h("th", { text: "Result" }), h("th", { text: "Inserted" }), h("th", { text: "Present" }), h("th", { text: "Reason" }))),
      h("tbody", {}, ...r.conversations.map((c) => h("tr", { class: c.outcome, "data-id": c.conversation_id },
        h("td", { text: c.conversation_id }), h("td", { text: outcomeText(c.outcome) }),
        h("td", { class: "num", text: String(c.messages_inserted) }), h("td", { class: "num", text: String(c.messages_already_present) }),
        h("td", { text: c.error ? c.error.message : c.differences_count ? `differing fields kept: ${c.differences_count}` : "" }))))));
}

/** Restore the checked conversations, or all of the user's (optionally archived in a date range), as one task. */
export async function restoreBulk(folder: string, ids: string[] | "all"): Promise<void> {
  const label = state.listing?.email ?? folder;
  const since = h("input", { type: "date", "aria-label": "Archived from" });
  const until = h("input", { type: "date", "aria-label": "Archived until" });
  const choice = await modal("Restore to Supabase", h("div", { id: "bulk-restore" },
    h("p", { text: ids === "all" ? `Every archived conversation of ${label}. Rows already there are kept; running it again finishes what is left.` : `${count(ids.length, "conversation")} of ${label}. Rows already there are kept.` }),
    ids === "all" ? h("label", { class: "field" }, "Archived from (optional)", since) : null,
    ids === "all" ? h("label", { class: "field" }, "Archived until (optional)", until) : null,
  ), [{ label: "Cancel", value: "cancel" }, { label: ids === "all" ? "Restore all" : `Restore ${count(ids.length, "conversation")}`, value: "ok" }]);
  if (choice !== "ok") return;
  const selection: Selection = ids === "all" ? { kind: "all", since: since.value || null, until: until.value || null } : { kind: "ids", ids };
  try {
    const r = await tasks.run(`Restoring ${label}`, (task, onProgress) => call("restore_conversations", { user: folder, selection, allowMissingColumns: false, task, onProgress: channel(onProgress) }), bulkProgressView);
    await loadLive(folder);
    await modal("Bulk restore done", bulkReport(r), [{ label: "Close", value: "ok" }]);
    say(`Restore of ${label}: ${r.restored} restored, ${r.already_there} already there, ${r.failed} failed`, r.failed ? "error" : "ok");
  } catch (e) {
    fail(e);
  }
}
