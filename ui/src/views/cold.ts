// A conversation in cold storage (GLACIER, DEEP_ARCHIVE, or an archive
// tier of INTELLIGENT_TIERING): request a restore, check its status, open
// it once readable.
import type { ColdStatus } from "../bindings/ColdStatus";
import type { ConversationRow } from "../bindings/ConversationRow";
import type { ThawTier } from "../bindings/ThawTier";
import { ThawTiers } from "../bindings/enums";
import { h } from "../dom";
import { call, errorText } from "../ipc";
import { isCold } from "../logic";

/** A label for every thaw tier (the type makes a new tier need one), in menu order. */
const THAW_TIER_LABELS: Record<ThawTier, string> = {
  [ThawTiers.Standard]: "Standard",
  [ThawTiers.Bulk]: "Bulk",
  [ThawTiers.Expedited]: "Expedited",
};
const THAW_TIERS = Object.keys(THAW_TIER_LABELS) as ThawTier[];

function statusText(s: ColdStatus): string {
  return s.state === "frozen" ? "In cold storage; no restore requested."
    : s.state === "restoring" ? "Restore in progress. Check again later."
    : s.state === "available" ? `Restored; readable until ${s.until ?? "—"}.`
    : "Readable now.";
}

/** The cold view of `row` of user `folder`; `onReadable` opens it once it can be read. */
export function renderCold(row: ConversationRow, folder: string, readOnly: boolean, onReadable: () => Promise<void>): HTMLElement {
  const id = row.conversation_id;
  const days = h("input", { type: "number", min: "1", max: "365", value: "7", "aria-label": "Days" });
  const tier = h("select", { "aria-label": "Tier" }, ...THAW_TIERS.map((t) => h("option", { value: t, text: THAW_TIER_LABELS[t] })));
  const result = h("p", { role: "status" });
  const requestRestore = async () => {
    try {
      result.textContent = statusText(await call("thaw_conversation", { user: folder, id, days: Number(days.value), tier: tier.value as ThawTier }));
    } catch (e) {
      result.textContent = errorText(e);
    }
  };
  const checkStatus = async () => {
    try {
      const s = await call("cold_status", { user: folder, id });
      result.textContent = statusText(s);
      if (s.state === "available" || s.state === "warm") await onReadable();
    } catch (e) {
      result.textContent = errorText(e);
    }
  };
  return h("div", { class: "empty" },
    h("h2", { text: `In ${row.storage_class}${isCold(row) ? "" : " (archive tier)"}` }),
    h("p", { text: "This conversation was moved to cold storage by a lifecycle rule. Request a restore, then open it when it is available." }),
    readOnly ? null : h("div", { class: "row" }, h("label", {}, "Days ", days), h("label", {}, "Tier ", tier),
      h("button", { text: "Request restore", onclick: requestRestore })),
    h("button", { text: "Check status", onclick: checkStatus }),
    result,
  );
}
