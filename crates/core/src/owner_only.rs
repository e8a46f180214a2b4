//! Owner-only files and directories (0600 / 0700 on Unix) for what the app
//! keeps locally: the catalog, the audit log, exports and profiles hold
//! users' emails and titles and a record of what was done to them. Other
//! systems keep their defaults.

use std::fs::File;
use std::path::Path;

use crate::error::{Error, Result};

/// The name of the app's own directory in the OS data, config and cache dirs.
const APP_DIR_NAME: &str = "archive-desk";

/// Create `dir` (missing parents with the usual defaults) as 0700, whatever
/// the umask. An existing `dir` is tightened to 0700 only when it is the
/// app's own leaf (named `archive-desk`: one an older version created with
/// wider modes); any other existing directory is one the person pointed us
/// at (`ARCHIVE_DESK_DATA_DIR=$HOME`) and keeps its mode — the files made in
/// it are 0600 anyway. Never for an export destination. An `archive-desk`
/// directory owned by someone else (an administrator's) is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let existed = match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => false,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => true,
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mode = std::fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions()
            .mode();
        let ours = !existed || dir.file_name().is_some_and(|n| n == APP_DIR_NAME);
        if ours && mode & 0o777 != 0o700 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => {}
                Err(e) if existed && e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(Error::io(dir, e)),
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
    }
}

/// A temp file in `dir`, 0600 on Unix, to be renamed over its destination
/// (the rename keeps the mode): exports and the profiles file. `tempfile`
/// uses 0600 by default; this says so where it matters.
pub(crate) fn temp_file_in(dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder.tempfile_in(dir)
}

/// The temp file a long export writes before renaming it to `path`:
/// `.NAME.PID.RANDOM.partial` beside it, 0600 on Unix. A process killed
/// mid-export (kill -9, a power cut) cannot remove its own, so first the
/// ones left by processes that are gone are removed: a partial copy of a
/// user's conversations does not stay behind once the export is run again.
pub(crate) fn partial_file_for(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    remove_abandoned_partials(dir, &name);
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder
        .prefix(&format!(".{name}.{}.", std::process::id()))
        .suffix(".partial")
        .tempfile_in(dir)
}

/// Remove `dir`'s `.NAME.PID.RANDOM.partial` files whose process is gone.
/// Only where that can be told (Linux: `/proc/PID`); best effort, as a
/// file that cannot be removed does no harm to this export.
fn remove_abandoned_partials(dir: &Path, name: &str) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".partial")) else {
            continue;
        };
        // Split from the end: the random part has no dot, the name may.
        let mut parts = stem.rsplitn(3, '.');
        let (Some(_random), Some(pid), Some(target)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let ours = target.strip_prefix('.') == Some(name);
        if ours && pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Make an open file 0600 if it is wider (created by an older version, or
/// by a library that does not take a mode, like SQLite). A file owned by
/// someone else is left as it is (chmod is refused).
pub(crate) fn restrict_file(file: &File, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(|e| Error::io(path, e))?.permissions().mode();
        if mode & 0o077 != 0 {
            match file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (file, path);
    Ok(())
}

/// [`restrict_file`] by path; a missing file is nothing to restrict.
pub(crate) fn restrict_path(path: &Path) -> Result<()> {
    match File::open(path) {
        Ok(f) => restrict_file(&f, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_partial_export_left_by_a_dead_process_is_removed_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("user.v2.json");
        // Above Linux's largest pid (2^22): a process that cannot exist.
        let dead = dir.path().join(".user.v2.json.4194305.AbC123.partial");
        let running = dir
            .path()
            .join(format!(".user.v2.json.{}.XyZ789.partial", std::process::id()));
        let other_target = dir.path().join(".user.json.4194305.AbC123.partial");
        let unrelated = dir.path().join(".user.v2.json.notes");
        for f in [&dead, &running, &other_target, &unrelated] {
            std::fs::write(f, b"{\"conversations\":[").unwrap();
        }
        let tmp = partial_file_for(&target).unwrap();
        assert_eq!(mode(tmp.path()), 0o600);
        let tmp_name = tmp.path().file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            tmp_name.starts_with(&format!(".user.v2.json.{}.", std::process::id())) && tmp_name.ends_with(".partial"),
            "{tmp_name}"
        );
        assert!(!dead.exists(), "the dead process's partial file is removed");
        assert!(running.exists(), "a running export's file is kept");
        assert!(other_target.exists() && unrelated.exists(), "other files are kept");
    }

    #[test]
    fn dirs_are_created_and_tightened_files_restricted() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/archive-desk");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        create_private_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(
            mode(&dir),
            0o700,
            "the app's own dir, made wide by an older version, is tightened"
        );

        let file = dir.join("f");
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict_path(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        restrict_path(&dir.join("missing")).unwrap();
    }

    #[test]
    fn a_directory_the_person_chose_keeps_its_mode() {
        // ARCHIVE_DESK_DATA_DIR=$HOME, say: it exists, is not ours.
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&home).unwrap();
        assert_eq!(mode(&home), 0o755);
        // One we create there is ours.
        let made = home.join("audit");
        create_private_dir(&made).unwrap();
        assert_eq!(mode(&made), 0o700);
    }
}
