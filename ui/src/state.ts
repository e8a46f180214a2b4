// What the window shows and works on: one object the panes read and the
// actions update.
import type { CatalogStats } from "./bindings/CatalogStats";
import type { ConversationRow } from "./bindings/ConversationRow";
import type { ConversationView } from "./bindings/ConversationView";
import type { OpenedProfile } from "./bindings/OpenedProfile";
import type { SearchHit } from "./bindings/SearchHit";
import type { UserMatch } from "./bindings/UserMatch";
import type { UserConversations } from "./bindings/UserConversations";
import type { UserSummary } from "./bindings/UserSummary";
import { sortRows, type SortKey } from "./logic";

export const state = {
  profile: null as OpenedProfile | null,
  users: [] as UserSummary[],
  loadingUsers: false,
  user: null as UserSummary | null,
  listing: null as UserConversations | null,
  sort: { key: "archived_at" as SortKey, ascending: false },
  checked: new Set<string>(),
  rowIndex: 0,
  conversation: null as ConversationView | null,
  tab: "transcript" as "transcript" | "raw",
  /** Bumped when a profile opens: work for an older one is dropped. */
  generation: 0,
  catalog: null as CatalogStats | null,
  /** The profile generation whose catalog is syncing, if any. */
  syncing: null as number | null,
  hits: [] as SearchHit[],
  /** The user the search box's text named, found by an exact look-up in the bucket. */
  found: null as { text: string; user: UserSummary } | null,
  /** Users the search matched by email whose index holds no conversation. */
  emptyUsers: [] as UserMatch[],
  /** The users listing under way, cancelled when another profile opens. */
  listingTask: null as string | null,
  searchSeq: 0,
  /** The exact look-up of the search box's text (newest wins). */
  lookupSeq: 0,
  /** When the users list came from the catalog: the time it was synced. */
  usersFromCatalog: null as string | null,
};

/** Search goes to the catalog once it has been synced; before that it filters the listed users by email. */
export function catalogReady(): boolean {
  return (state.catalog?.conversations ?? 0) > 0;
}

/** The open user's conversations, in the chosen order. */
export function conversationRows(): ConversationRow[] {
  return state.listing ? sortRows(state.listing.conversations, state.sort.key, state.sort.ascending) : [];
}
