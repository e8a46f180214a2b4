// The typed IPC surface: one function per allow-listed command. Payload
// types are generated from Rust (ui/src/bindings, `cargo test`).
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AuditQuery } from "./bindings/AuditQuery";
import type { AuditRecord } from "./bindings/AuditRecord";
import type { CatalogStats } from "./bindings/CatalogStats";
import type { Check } from "./bindings/Check";
import type { ColdStatus } from "./bindings/ColdStatus";
import type { ConversationView } from "./bindings/ConversationView";
import type { DeleteReport } from "./bindings/DeleteReport";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { ExportFormat } from "./bindings/ExportFormat";
import type { ExportProgress } from "./bindings/ExportProgress";
import type { ExportReport } from "./bindings/ExportReport";
import type { ExportUserReport } from "./bindings/ExportUserReport";
import type { ImportReport } from "./bindings/ImportReport";
import type { OpenedProfile } from "./bindings/OpenedProfile";
import type { Profile } from "./bindings/Profile";
import type { ProfileView } from "./bindings/ProfileView";
import type { RepairReport } from "./bindings/RepairReport";
import type { RestoreReport } from "./bindings/RestoreReport";
import type { SaveReport } from "./bindings/SaveReport";
import type { SearchPage } from "./bindings/SearchPage";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { SyncReport } from "./bindings/SyncReport";
import type { UserBatch } from "./bindings/UserBatch";
import type { UserConversations } from "./bindings/UserConversations";
import type { Verification } from "./bindings/Verification";

export function isErrorReport(e: unknown): e is ErrorReport {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorText(e: unknown): string {
  return isErrorReport(e) ? e.message : String(e);
}

/** True when a long task ended because the person cancelled it. */
export function isCancelled(e: unknown): boolean {
  return isErrorReport(e) && e.code === "cancelled";
}

/** A channel the backend streams into (batches, progress). */
function channel<T>(onMessage: (message: T) => void): Channel<T> {
  const c = new Channel<T>();
  c.onmessage = onMessage;
  return c;
}

export const ipc = {
  listProfiles: () => invoke<ProfileView[]>("list_profiles"),
  saveProfile: (name: string, profile: Profile) => invoke<SaveReport>("save_profile", { name, profile }),
  setSecret: (name: string, kind: string, value: string) => invoke<void>("set_secret", { name, kind, value }),
  importEnv: (name: string, path: string, replace: boolean) =>
    invoke<ImportReport>("import_env", { name, path, replace }),
  removeProfile: (name: string) => invoke<void>("remove_profile", { name }),
  testProfile: (name: string) => invoke<Check[]>("test_profile", { name }),
  openProfile: (name: string) => invoke<OpenedProfile>("open_profile", { name }),
  listUsers: (task: string, onBatch: (b: UserBatch) => void) =>
    invoke<number>("list_users", { task, onBatch: channel(onBatch) }),
  userConversations: (user: string) => invoke<UserConversations>("user_conversations", { user }),
  openConversation: (user: string, id: string) => invoke<ConversationView>("open_conversation", { user, id }),
  restore: (user: string, id: string, allowMissingColumns: boolean, removeFromArchive: boolean, task: string) =>
    invoke<RestoreReport>("restore_conversation", { user, id, allowMissingColumns, removeFromArchive, task }),
  exportConversation: (user: string, id: string, path: string, gzip: boolean) =>
    invoke<ExportReport>("export_conversation", { user, id, path, gzip }),
  deleteConversations: (user: string, ids: string[]) => invoke<DeleteReport>("delete_conversations", { user, ids }),
  thaw: (user: string, id: string, days: number, tier: string) =>
    invoke<ColdStatus>("thaw_conversation", { user, id, days, tier }),
  coldStatus: (user: string, id: string) => invoke<ColdStatus>("cold_status", { user, id }),
  verifyUser: (user: string) => invoke<Verification>("verify_user", { user }),
  repairUser: (user: string) => invoke<RepairReport>("repair_user", { user }),
  readAudit: (query: AuditQuery) => invoke<AuditRecord[]>("read_audit", { query }),
  cancelTask: (task: string) => invoke<boolean>("cancel_task", { task }),
  catalogStatus: () => invoke<CatalogStats>("catalog_status"),
  syncCatalog: (task: string, onProgress: (p: SyncProgress) => void) =>
    invoke<SyncReport>("sync_catalog", { task, onProgress: channel(onProgress) }),
  searchCatalog: (query: string, offset: number, limit: number) =>
    invoke<SearchPage>("search_catalog", { query, offset, limit }),
  exportUser: (
    user: string,
    path: string,
    format: ExportFormat,
    gzip: boolean,
    task: string,
    onProgress: (p: ExportProgress) => void,
  ) => invoke<ExportUserReport>("export_user", { user, path, format, gzip, task, onProgress: channel(onProgress) }),
};
