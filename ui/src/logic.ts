// View logic without DOM or IPC, so it is easy to test.
import type { ConversationRow } from "./bindings/ConversationRow";
import type { DeleteReport } from "./bindings/DeleteReport";
import type { EmailSource } from "./bindings/EmailSource";
import { EmailSources, ExportFormats } from "./bindings/enums";
import type { ExportFormat } from "./bindings/ExportFormat";
import type { ExportProgress } from "./bindings/ExportProgress";
import type { SearchHit } from "./bindings/SearchHit";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { SyncReport } from "./bindings/SyncReport";
import type { UserConversations } from "./bindings/UserConversations";
import type { UserSummary } from "./bindings/UserSummary";

/**
 * Text that names one user exactly — a complete email (`a@b.c`) or a user
 * folder name (`a_at_b_c`) — and so is worth one look-up in the bucket.
 */
export function namesOneUser(text: string): boolean {
  return /^[^\s@]+@[^\s@]+\.[^\s@.]+$/.test(text) || /^[^\s@/]+_at_[^\s@/]+$/.test(text);
}

/** A looked-up user's row, as the users list shows it (index entries only). */
export function summaryOfListing(l: UserConversations): UserSummary {
  const indexed = l.conversations.filter((c) => c.in_index);
  const archived = indexed.map((c) => c.archived_at).filter((a): a is string => a !== null).sort();
  return {
    folder: l.folder, email: l.email, email_source: l.email_source, conversation_count: indexed.length,
    last_archived_at: archived.length ? archived[archived.length - 1] : null, index_missing: l.index_missing, index_error: l.index_error,
  };
}

/**
 * The users list after `folder` was erased and listed again (`left`): the
 * user leaves it once nothing of theirs is left in the bucket, else their
 * row shows what is left.
 */
export function usersAfterErasure(users: UserSummary[], folder: string, left: UserConversations | null): UserSummary[] {
  const gone = !left || (left.index_missing && left.conversations.length === 0 && left.other_objects.length === 0);
  if (gone) return users.filter((u) => u.folder !== folder);
  return users.map((u) => (u.folder === folder ? summaryOfListing(left) : u));
}

/** Users whose email or folder contains every word of `query` (any case). */
export function filterUsers(users: UserSummary[], query: string): UserSummary[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return users;
  return users.filter((u) => {
    const hay = `${u.email ?? ""} ${u.folder}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

export type SortKey = "title" | "created_at" | "archived_at" | "message_count" | "storage_class";

export function sortRows(rows: ConversationRow[], key: SortKey, ascending: boolean): ConversationRow[] {
  const value = (r: ConversationRow): string | number => {
    const v = r[key];
    return v === null || v === undefined ? "" : v;
  };
  const sorted = [...rows].sort((a, b) => {
    const x = value(a);
    const y = value(b);
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x).localeCompare(String(y));
  });
  return ascending ? sorted : sorted.reverse();
}

/** The next selected index for a navigation key, or null if the key is not one. */
export function moveSelection(index: number, key: string, length: number): number | null {
  if (length === 0) return null;
  switch (key) {
    case "ArrowDown":
    case "j":
      return Math.min(index + 1, length - 1);
    case "ArrowUp":
    case "k":
      return Math.max(index - 1, 0);
    case "Home":
      return 0;
    case "End":
      return length - 1;
    case "PageDown":
      return Math.min(index + 10, length - 1);
    case "PageUp":
      return Math.max(index - 10, 0);
    default:
      return null;
  }
}

export function isCold(row: ConversationRow): boolean {
  return row.storage_class === "GLACIER" || row.storage_class === "DEEP_ARCHIVE";
}

/** The user label: the true email, a guess marked with ~, or the folder. */
export function userLabel(u: { email: string | null; email_source: EmailSource; folder: string }): string {
  if (u.email && u.email_source === EmailSources.Index) return u.email;
  if (u.email) return `~${u.email}`;
  return u.folder;
}

/** What a progress bar shows: a line of text and a fraction, or null when the total is unknown. */
export interface ProgressView {
  text: string;
  fraction: number | null;
}

export function syncProgressView(p: SyncProgress): ProgressView {
  const resuming = p.resumed ? " (resuming)" : "";
  if (p.users_done === 0 && !p.listing_complete) {
    return { text: `Listing the bucket… ${count(p.users_listed, "user")} so far${resuming}`, fraction: null };
  }
  const total = Math.max(p.estimated_total, p.users_done);
  return {
    text: `${p.users_done.toLocaleString()} of ${p.listing_complete ? "" : "~"}${count(total, "user")} · ${p.indexes_fetched.toLocaleString()} index(es) fetched${resuming}`,
    fraction: total > 0 ? p.users_done / total : null,
  };
}

/** The status line after a sync: what the catalog holds, and how many requests at once the sync settled on. */
export function syncDoneText(r: SyncReport): string {
  return `Catalog synced: ${count(r.users, "user")}, ${count(r.conversations, "conversation")}; ${r.indexes_fetched.toLocaleString()} ${r.indexes_fetched === 1 ? "index" : "indexes"} fetched in ${(r.elapsed_ms / 1000).toFixed(1)} s · ${r.fetch_concurrency.settled} fetches and ${r.list_concurrency.settled} listings at once (of ${r.fetch_concurrency.ceiling})`;
}

export function exportProgressView(p: ExportProgress): ProgressView {
  const total = p.conversations_total;
  return {
    text: `${p.conversations_done.toLocaleString()} of ${count(total, "conversation")} · ${bytes(p.json_bytes)}`,
    fraction: total > 0 ? p.conversations_done / total : null,
  };
}

/** "1 user", "2,000 users". */
export function count(n: number, noun: string): string {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

export function bytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago"; "never" for null. */
export function ago(iso: string | null, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const minutes = Math.floor((now - t) / 60_000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

/** Search hits in runs of the same user, in rank order. */
export function groupHits(hits: SearchHit[]): { folder: string; email: string | null; hits: SearchHit[] }[] {
  const groups: { folder: string; email: string | null; hits: SearchHit[] }[] = [];
  for (const hit of hits) {
    const last = groups[groups.length - 1];
    if (last && last.folder === hit.folder) last.hits.push(hit);
    else groups.push({ folder: hit.folder, email: hit.email, hits: [hit] });
  }
  return groups;
}

/** The file name the save dialog proposes for a whole-user export. */
export function exportFileName(folder: string, format: ExportFormat, gzip: boolean): string {
  return `${folder}${format === ExportFormats.JsonLines ? ".jsonl" : ".json"}${gzip ? ".gz" : ""}`;
}

/** The note column of a conversation row: drift, and an Object Lock hold or an unreadable lock state (delete refuses held objects, and objects whose lock state it cannot read). */
export function rowNotes(row: ConversationRow): string {
  return [
    !row.in_store ? "object missing" : "",
    !row.in_index ? "not in index" : "",
    row.held ? `held: ${row.held}` : row.hold_unknown ? "hold unknown" : "",
  ].filter(Boolean).join(", ");
}

/** Every line a delete report shows: what was removed, what was not found, and every warning. */
export function deleteReportLines(r: DeleteReport): string[] {
  return [
    `Deleted ${count(r.deleted_keys.length, "object")} (${count(r.deleted_versions, "version")}${r.versioned_bucket ? ", every stored version" : ""}), ${r.index_entries_removed} index entr${r.index_entries_removed === 1 ? "y" : "ies"}`,
    ...r.not_found.map((id) => `Not found: ${id}`),
    ...r.warnings.map((w) => `Warning: ${w}`),
  ];
}
