// The typed IPC surface: one function per allow-listed command. Payload
// types are generated from Rust (ui/src/bindings, `cargo test`). The command
// names must be those of src-tauri/src/command_names.rs, each invoked here
// as a literal: a test in the shell (`cargo test -p archive-desk`) checks.
import { Channel, invoke } from "@tauri-apps/api/core";
import type { AuditQuery } from "./bindings/AuditQuery";
import type { AuditRead } from "./bindings/AuditRead";
import type { AuditVerification } from "./bindings/AuditVerification";
import type { CatalogStats } from "./bindings/CatalogStats";
import type { ChosenFile } from "./bindings/ChosenFile";
import type { Check } from "./bindings/Check";
import type { ColdStatus } from "./bindings/ColdStatus";
import type { ConversationView } from "./bindings/ConversationView";
import type { DeleteReport } from "./bindings/DeleteReport";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { ErrorReport } from "./bindings/ErrorReport";
import type { ExportFormat } from "./bindings/ExportFormat";
import type { ExportProgress } from "./bindings/ExportProgress";
import type { ExportReport } from "./bindings/ExportReport";
import type { ExportUserReport } from "./bindings/ExportUserReport";
import type { FilePurpose } from "./bindings/FilePurpose";
import type { ImportReport } from "./bindings/ImportReport";
import type { OpenedProfile } from "./bindings/OpenedProfile";
import type { Profile } from "./bindings/Profile";
import type { ProfileView } from "./bindings/ProfileView";
import type { RepairReport } from "./bindings/RepairReport";
import type { RestoreReport } from "./bindings/RestoreReport";
import type { SaveReport } from "./bindings/SaveReport";
import type { SearchPage } from "./bindings/SearchPage";
import type { SecretKind } from "./bindings/SecretKind";
import type { SyncProgress } from "./bindings/SyncProgress";
import type { SyncReport } from "./bindings/SyncReport";
import type { ThawTier } from "./bindings/ThawTier";
import type { UserBatch } from "./bindings/UserBatch";
import type { UserConversations } from "./bindings/UserConversations";
import type { Verification } from "./bindings/Verification";

/**
 * The result of an irreversible action (delete, restore, repair):
 * `audit_warning` is set when it was done but its audit outcome could not
 * be written (the log has its intent).
 */
export type Audited<T> = T & { audit_warning?: string };

export function isErrorReport(e: unknown): e is ErrorReport {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorText(e: unknown): string {
  return isErrorReport(e) ? e.message : String(e);
}

/** True when `e` is the core's error with `code` (a code the core has: a typo does not type-check). */
export function hasCode(e: unknown, code: ErrorCode): boolean {
  return isErrorReport(e) && e.code === code;
}

/** True when a long task ended because the person cancelled it. */
export function isCancelled(e: unknown): boolean {
  return hasCode(e, "cancelled");
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
  setSecret: (name: string, kind: SecretKind, value: string) => invoke<void>("set_secret", { name, kind, value }),
  /** The native dialog, opened by the backend; the page only ever holds a token for the chosen file. */
  chooseFile: (purpose: FilePurpose, suggestedName: string) =>
    invoke<ChosenFile | null>("choose_file", { purpose, suggestedName }),
  importEnv: (name: string, file: string, replace: boolean) =>
    invoke<ImportReport>("import_env", { name, file, replace }),
  removeProfile: (name: string) => invoke<void>("remove_profile", { name }),
  testProfile: (name: string) => invoke<Check[]>("test_profile", { name }),
  openProfile: (name: string) => invoke<OpenedProfile>("open_profile", { name }),
  listUsers: (task: string, onBatch: (b: UserBatch) => void) =>
    invoke<number>("list_users", { task, onBatch: channel(onBatch) }),
  userConversations: (user: string) => invoke<UserConversations>("user_conversations", { user }),
  openConversation: (user: string, id: string) => invoke<ConversationView>("open_conversation", { user, id }),
  restore: (user: string, id: string, allowMissingColumns: boolean, removeFromArchive: boolean, task: string) =>
    invoke<Audited<RestoreReport>>("restore_conversation", { user, id, allowMissingColumns, removeFromArchive, task }),
  exportConversation: (user: string, id: string, file: string, gzip: boolean) =>
    invoke<ExportReport>("export_conversation", { user, id, file, gzip }),
  deleteConversations: (user: string, ids: string[]) => invoke<Audited<DeleteReport>>("delete_conversations", { user, ids }),
  thaw: (user: string, id: string, days: number, tier: ThawTier) =>
    invoke<ColdStatus>("thaw_conversation", { user, id, days, tier }),
  coldStatus: (user: string, id: string) => invoke<ColdStatus>("cold_status", { user, id }),
  verifyUser: (user: string) => invoke<Verification>("verify_user", { user }),
  repairUser: (user: string) => invoke<Audited<RepairReport>>("repair_user", { user }),
  readAudit: (query: AuditQuery) => invoke<AuditRead>("read_audit", { query }),
  verifyAudit: () => invoke<AuditVerification>("verify_audit"),
  cancelTask: (task: string) => invoke<boolean>("cancel_task", { task }),
  catalogStatus: () => invoke<CatalogStats>("catalog_status"),
  syncCatalog: (task: string, onProgress: (p: SyncProgress) => void) =>
    invoke<SyncReport>("sync_catalog", { task, onProgress: channel(onProgress) }),
  searchCatalog: (query: string, offset: number, limit: number) =>
    invoke<SearchPage>("search_catalog", { query, offset, limit }),
  exportUser: (
    user: string,
    file: string,
    format: ExportFormat,
    gzip: boolean,
    task: string,
    onProgress: (p: ExportProgress) => void,
  ) => invoke<ExportUserReport>("export_user", { user, file, format, gzip, task, onProgress: channel(onProgress) }),
};
