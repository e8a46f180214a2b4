// View logic without DOM or IPC, so it is easy to test.
import type { ConversationRow } from "./bindings/ConversationRow";
import type { UserSummary } from "./bindings/UserSummary";

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
export function userLabel(u: { email: string | null; email_source: string; folder: string }): string {
  if (u.email && u.email_source === "index") return u.email;
  if (u.email) return `~${u.email}`;
  return u.folder;
}
