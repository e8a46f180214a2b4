// What the buttons of the conversation panes do: export (one or all of a
// user's), delete, verify and repair (restores: restore.ts); each asks first where it
// must and reports in a dialog or the status line.
import type { ExportFormat } from "./bindings/ExportFormat";
import { ExportFormats, FilePurposes } from "./bindings/enums";
import { refreshSearch } from "./browse";
import { openUser } from "./conversations";
import { h } from "./dom";
import { call, channel, isCancelled } from "./ipc";
import { fail, say, sayDone, tasks, viewPane } from "./layout";
import { bytes, count, deleteReportLines, exportFileName, exportProgressView } from "./logic";
import { state } from "./state";
import { confirmDanger, modal } from "./views/dialog";

export async function exportOne(user: string, id: string): Promise<void> {
  try {
    const file = await call("choose_file", { purpose: FilePurposes.ExportConversation, suggestedName: `${id}.json` });
    if (!file) return;
    const r = await call("export_conversation", { user, id, file: file.token, gzip: file.name.endsWith(".gz") });
    say(`Exported ${count(r.messages, "message")} to ${r.path}`, "ok");
  } catch (e) {
    fail(e);
  }
}

export async function exportAll(folder: string): Promise<void> {
  const label = state.listing?.email ?? folder;
  const format = h("select", { "aria-label": "Format" },
    h("option", { value: ExportFormats.Json, text: "One JSON document" }),
    h("option", { value: ExportFormats.JsonLines, text: "JSON Lines (one conversation per line)" }));
  const gzip = h("input", { type: "checkbox" });
  const choice = await modal("Export all conversations", h("div", {},
    h("p", { text: `Every archived conversation of ${label}, as stored (all fields kept), in one file.` }),
    h("label", { class: "field" }, "Format", format),
    h("label", { class: "check" }, gzip, " Compress with gzip"),
  ), [{ label: "Cancel", value: "cancel" }, { label: "Choose file…", value: "ok" }]);
  if (choice !== "ok") return;
  const fmt = format.value as ExportFormat;
  try {
    const file = await call("choose_file", { purpose: FilePurposes.ExportUser, suggestedName: exportFileName(folder, fmt, gzip.checked) });
    if (!file) return;
    const r = await tasks.run(`Exporting ${label}`, (task, onProgress) => call("export_user", { user: folder, file: file.token, format: fmt, gzip: gzip.checked || file.name.endsWith(".gz"), task, onProgress: channel(onProgress) }), exportProgressView);
    say(`Exported ${count(r.conversations, "conversation")} (${count(r.messages, "message")}, ${bytes(r.json_bytes)} of JSON) to ${r.path}${r.skipped.length ? `; ${r.skipped.length} skipped` : ""}`, r.skipped.length ? "error" : "ok");
    if (r.skipped.length) {
      await modal("Some conversations were not exported", h("div", { id: "export-skipped" },
        h("p", { text: "These are listed for the user but could not be read; the file has everything else:" }),
        ...r.skipped.map((k) => h("p", { text: `• ${k.conversation_id}: ${k.error.message}` }))),
      [{ label: "Close", value: "ok" }]);
    }
  } catch (e) {
    if (isCancelled(e)) say("Export cancelled; no file was written.");
    else fail(e);
  }
}

export async function deleteChecked(): Promise<void> {
  await deleteIds([...state.checked]);
}

export async function deleteIds(ids: string[]): Promise<void> {
  if (!state.user || !state.listing) return;
  const email = state.listing.email ?? state.user.folder;
  const titles = ids.map((id) => {
    const row = state.listing!.conversations.find((r) => r.conversation_id === id);
    // A held object makes the whole delete refused: say so before it is tried.
    const hold = row?.held
      ? ` — held (${row.held}): the delete will be refused`
      : row?.hold_unknown
        ? " — hold unknown: the delete is refused if its lock state cannot be read"
        : "";
    return `${row?.title ?? id}${hold}`;
  });
  const ok = await confirmDanger(
    `Delete ${count(ids.length, "conversation")} permanently`,
    ["This removes every stored version and the index entries. It cannot be undone:", ...titles.map((t) => `• ${t}`)],
    ids.length > 1 ? email : undefined,
  );
  if (!ok) return;
  try {
    const r = await call("delete_conversations", { user: state.user.folder, ids });
    const lines = deleteReportLines(r);
    if (r.audit_warning) say(`${lines[0]}. Warning: ${r.audit_warning}`, "error");
    else say(lines[0], r.warnings.length ? "error" : "ok");
    state.conversation = null;
    viewPane.replaceChildren(
      h("div", { class: "empty report", id: "delete-report" },
        h("h2", { text: "Deleted" }),
        ...lines.map((l) => h("p", { class: l.startsWith("Warning: ") ? "error" : "", text: l })),
      ),
    );
    await openUser(state.user);
    await refreshSearch();
  } catch (e) {
    fail(e);
  }
}

export async function verify(user: string): Promise<void> {
  try {
    const v = await call("verify_user", { user });
    const lines = [
      `Index: ${v.index_state}; ${count(v.objects_checked, "object")} read`,
      ...v.dangling_entries.map((id) => `Index entry without object: ${id}`),
      ...v.unindexed_objects.map((u) => `Object not in the index: ${u.key}`),
      ...v.unreadable_objects.map((u) => `Unreadable: ${u.error.message}`),
      ...v.duplicate_entries.map((id) => `Duplicate index entry: ${id}`),
      ...v.cold_objects.map((k) => `In cold storage (not read): ${k}`),
    ];
    await modal(lines.length === 1 ? "All good" : "Integrity check", h("div", {}, ...lines.map((l) => h("p", { text: l }))), [{ label: "Close", value: "ok" }]);
  } catch (e) {
    fail(e);
  }
}

export async function repair(user: string): Promise<void> {
  try {
    const r = await call("repair_user", { user });
    sayDone(`Repaired: ${r.entries_removed} dangling removed, ${count(r.duplicates_removed, "duplicate")} removed, ${r.entries_added} ${r.entries_added === 1 ? "entry" : "entries"} added${r.left_alone.length ? `; left alone: ${r.left_alone.join(", ")}` : ""}`, r.audit_warning);
    if (state.user) await openUser(state.user);
  } catch (e) {
    fail(e);
  }
}
