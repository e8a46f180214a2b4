//! The audit log: read, verified, exported; deletion receipts verified.

use archive_desk_core::audit::{AuditExportFormat, AuditExportReport};
use archive_desk_core::erase::ReceiptVerification;
use archive_desk_core::{AuditFilter, AuditRead, AuditVerification};

use crate::files::FilePurpose;
use crate::ipc::{report, AuditQuery, CmdResult};
use crate::state::AppState;
use crate::tasks::blocking;

/// The audit view's filters as the core's.
fn audit_filter(query: AuditQuery) -> AuditFilter {
    AuditFilter {
        user: query.user.filter(|s| !s.is_empty()),
        action: query.action.map(|a| a.as_str().to_owned()),
        since: query.since.filter(|s| !s.is_empty()),
        until: query.until.filter(|s| !s.is_empty()),
    }
}

pub async fn read_audit(state: &AppState, query: AuditQuery) -> CmdResult<AuditRead> {
    let filter = audit_filter(query);
    let log = state.audit.clone();
    let mut read = blocking(move || log.read(&filter)).await?;
    read.records.reverse();
    read.records.truncate(1000);
    Ok(read)
}

/// Check the audit log's hash chain (the audit view's "Verify log").
pub async fn verify_audit(state: &AppState) -> CmdResult<AuditVerification> {
    let log = state.audit.clone();
    blocking(move || log.verify()).await
}

/// Check a receipt chosen in the open dialog against the open profile's bucket.
pub async fn verify_receipt(state: &AppState, file: String) -> CmdResult<ReceiptVerification> {
    let path = state.files.take(&file, FilePurpose::OpenReceipt).map_err(report)?;
    let (_, session) = state.session().await?;
    session.verify_receipt(&path).await.map_err(report)
}

/// Export what the audit view's filters keep (every matching record,
/// oldest first) as CSV or JSON.
pub async fn export_audit(
    state: &AppState,
    query: AuditQuery,
    format: AuditExportFormat,
    file: String,
) -> CmdResult<AuditExportReport> {
    let path = state.files.take(&file, FilePurpose::ExportAudit).map_err(report)?;
    let filter = audit_filter(query);
    let log = state.audit.clone();
    blocking(move || log.export(&filter, format, &path)).await
}
