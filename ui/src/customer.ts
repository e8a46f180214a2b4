// Whole-customer requests from the user pane and the audit view: the
// export for the customer (a data-access request), erasure with a deletion
// receipt (the email typed to confirm; the receipt's place chosen before
// anything is removed), and checking a receipt against the bucket.
import { refreshLeftPane, refreshSearch } from "./browse";
import { FilePurposes } from "./bindings/enums";
import { openUser } from "./conversations";
import { h } from "./dom";
import { call, channel, isCancelled } from "./ipc";
import { fail, say, tasks, viewPane } from "./layout";
import { exportProgressView, usersAfterErasure } from "./logic";
import { customerExportLine, erasureReportLines, eraseProgressView, receiptFileName, receiptVerificationLines } from "./receipt";
import { state } from "./state";
import { confirmDanger, modal } from "./views/dialog";

export async function exportForCustomer(folder: string): Promise<void> {
  const label = state.listing?.email ?? folder;
  const choice = await modal("Export for the customer", h("div", {},
    h("p", { text: `A copy of every archived conversation of ${label} to send to them: a new folder with each conversation as JSON and as a plain-text transcript, and manifest.json with the counts and the SHA-256 of every file.` }),
  ), [{ label: "Cancel", value: "cancel" }, { label: "Choose folder name…", value: "ok" }]);
  if (choice !== "ok") return;
  try {
    const file = await call("choose_file", { purpose: FilePurposes.ExportForCustomer, suggestedName: `${folder}-data` });
    if (!file) return;
    const r = await tasks.run(`Exporting ${label} for the customer`, (task, onProgress) => call("export_user_for_customer", { user: folder, folder: file.token, task, onProgress: channel(onProgress) }), exportProgressView);
    say(customerExportLine(r), r.skipped.length ? "error" : "ok");
  } catch (e) {
    if (isCancelled(e)) say("Export cancelled; no folder was written.");
    else fail(e);
  }
}

export async function eraseUser(folder: string): Promise<void> {
  if (!state.user) return;
  const email = state.listing?.email ?? folder;
  const held = (state.listing?.conversations ?? []).filter((r) => r.held || r.hold_unknown).length;
  const ok = await confirmDanger(`Erase ${email}`, [
    "Every archived conversation of this user (every stored version), their index entries and metadata.json are removed for good. It cannot be undone.",
    "A deletion receipt is saved first (you choose where): every key and version removed, with the SHA-256 of its content.",
    ...(held ? [`${held === 1 ? "1 conversation is" : `${held.toLocaleString()} conversations are`} or may be under S3 Object Lock: the erasure will be refused whole.`] : []),
  ], email, "Erase permanently");
  if (!ok) return;
  try {
    const file = await call("choose_file", { purpose: FilePurposes.EraseReceipt, suggestedName: receiptFileName(folder, new Date()) });
    if (!file) return;
    const r = await tasks.run(`Erasing ${email}`, (task, onProgress) => call("erase_user", { user: folder, receiptFile: file.token, task, onProgress: channel(onProgress) }), eraseProgressView);
    const lines = erasureReportLines(r);
    const done = r.receipt.outcome === "complete" && !r.receipt_error;
    say(r.audit_warning ? `${lines[0]} Warning: ${r.audit_warning}` : lines[0], done && !r.audit_warning ? "ok" : "error");
    state.conversation = null;
    viewPane.replaceChildren(
      h("div", { class: "empty report", id: "erase-report" },
        h("h2", { text: done ? "Erased" : "Erasure not complete" }),
        ...lines.map((l, i) => h("p", { class: i === 0 && !done ? "error" : "", text: l })),
      ),
    );
    await openUser(state.user);
    state.users = usersAfterErasure(state.users, folder, state.listing?.folder === folder ? state.listing : null);
    refreshLeftPane();
    await refreshSearch();
  } catch (e) {
    if (isCancelled(e)) say("Erasure cancelled before anything was removed.");
    else fail(e);
  }
}

/** Check a receipt chosen in the open dialog against the open profile's bucket. */
export async function verifyReceipt(): Promise<void> {
  try {
    const file = await call("choose_file", { purpose: FilePurposes.OpenReceipt, suggestedName: "receipt.json" });
    if (!file) return;
    const v = await call("verify_receipt", { file: file.token });
    const lines = receiptVerificationLines(v);
    await modal(v.still_present.length ? "Receipt NOT verified" : "Receipt verified", h("div", { class: v.still_present.length ? "report error" : "report", id: "receipt-check" },
      ...lines.map((l) => h("p", { text: l }))), [{ label: "Close", value: "ok" }]);
  } catch (e) {
    fail(e);
  }
}
