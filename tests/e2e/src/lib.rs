//! The real app in a real window, for the end-to-end tests in `tests/`:
//! Xvfb, then tauri-driver (which starts the app through WebKitWebDriver),
//! then a WebDriver client. Each test file launches its own app on a
//! private config, data and cache dir ([`Home`]) with a profile whose
//! secrets are in the real keychain (the tests run inside with-keyring.sh).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use archive_desk_core::catalog::{self, SyncOptions};
use archive_desk_core::profile::{AwsAuth, Profile};
use archive_desk_core::{Catalog, Keychain, Profiles, Secret, SecretKind, Store};
use archive_desk_harness::servers::{self, S3Server};
use archive_desk_harness::supabase::SupabaseStack;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// Kills its process (SIGTERM first, so tauri-driver stops WebKitWebDriver).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
    }
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// The app binary the tests launch: `$ARCHIVE_DESK_APP`, else the debug build.
pub fn app_binary() -> PathBuf {
    std::env::var_os("ARCHIVE_DESK_APP")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/archive-desk"))
}

/// Where screenshots go: `$ARCHIVE_DESK_SCREENSHOTS`, else the target dir's `screenshots/`.
pub fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("ARCHIVE_DESK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("screenshots"));
    std::fs::create_dir_all(&dir).expect("create the screenshots dir");
    dir
}

/// The app's private directories for one test, removed when it ends.
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("dialogs")).expect("dialogs dir");
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.path().join("config")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// The app's diagnostic log (`ARCHIVE_DESK_LOG_DIR`).
    pub fn log_dir(&self) -> PathBuf {
        self.path().join("logs")
    }

    /// Where the app answers its native file dialogs (WebDriver cannot
    /// drive them): a save writes `dialogs/<suggested name>`.
    pub fn dialogs(&self) -> PathBuf {
        self.path().join("dialogs")
    }

    /// The app's profiles file, with the real keychain.
    pub fn profiles(&self) -> Profiles {
        Profiles::new(self.config_dir().join("profiles.toml"), Keychain::default())
    }

    /// Syncs the catalog the app opens for `profile` (in this home's cache
    /// dir) from `store` now, as an earlier session of the app would have.
    pub async fn sync_catalog(&self, profile: &ProfileGuard, store: &Store) {
        let name = catalog::default_path(&profile.name).expect("a catalog path");
        let file = self.cache_dir().join(name.file_name().expect("a catalog file name"));
        let synced = Catalog::open(&file).expect("open the catalog");
        archive_desk_harness::sync_catalog(store, &synced, &SyncOptions::default()).await;
    }

    /// Adds a profile on `bucket` of `server` (and `supabase` as its restore
    /// target, if given), secrets in the keychain; returns its name. The
    /// name is unique, as the keychain is shared by every test of the run.
    pub fn add_profile(&self, server: &S3Server, bucket: &str, supabase: Option<&SupabaseStack>) -> ProfileGuard {
        self.add_profile_at(&server.endpoint, server, bucket, supabase)
    }

    /// As [`Home::add_profile`], reaching `server` at `endpoint` (a fault
    /// proxy in front of it).
    pub fn add_profile_at(
        &self,
        endpoint: &str,
        server: &S3Server,
        bucket: &str,
        supabase: Option<&SupabaseStack>,
    ) -> ProfileGuard {
        let name = format!("e2e-{}", servers::token());
        let profiles = self.profiles();
        let mut profile = Profile::new(bucket);
        profile.endpoint = Some(endpoint.to_owned());
        profile.region = Some("us-east-1".into());
        profile.aws = AwsAuth::Keychain {
            access_key_id: server.access_key_id.clone(),
        };
        profile.supabase_url = supabase.map(|s| s.url.clone());
        profiles.put(&name, profile).expect("save the profile");
        profiles
            .set_secret(
                &name,
                SecretKind::AwsSecretAccessKey,
                &Secret::new(server.secret_access_key.clone()),
            )
            .expect("save the S3 secret");
        if let Some(stack) = supabase {
            profiles
                .set_secret(&name, SecretKind::SupabaseKey, &Secret::new(stack.service_key.clone()))
                .expect("save the Supabase key");
        }
        ProfileGuard { profiles, name }
    }
}

impl Default for Home {
    fn default() -> Self {
        Home::new()
    }
}

/// A profile added by [`Home::add_profile`]; removed (with its keychain
/// entries) when dropped, so a failed test leaves no secrets behind.
pub struct ProfileGuard {
    profiles: Profiles,
    pub name: String,
}

impl Drop for ProfileGuard {
    fn drop(&mut self) {
        let _ = self.profiles.remove(&self.name);
    }
}

/// The running app: the WebDriver client plus the processes behind it.
/// Fields drop in order: the session's client before the driver and Xvfb.
pub struct App {
    pub client: Client,
    config_dir: PathBuf,
    log_dir: PathBuf,
    _driver: Proc,
    _xvfb: Xvfb,
}

/// An X server of the test's own, stopped when dropped.
pub struct Xvfb {
    _proc: Proc,
    pub display: u32,
}

impl Xvfb {
    /// Xvfb picks a free display itself and names it once it accepts
    /// connections (`-displayfd`). Choosing one by looking for a free
    /// socket in /tmp/.X11-unix raced: two launches at once (a file's
    /// tests run in parallel, and so do other runs) took the same display,
    /// and the test whose Xvfb it was took the other's app down with it when
    /// it ended: a bare WebDriver "unknown error" in whatever that app was
    /// running (axe-core over the find bar, once).
    pub fn start() -> Xvfb {
        use std::io::BufRead;
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let stdout = child.stdout.take().expect("Xvfb's stdout");
        let proc = Proc(child);
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read Xvfb's display");
        let display = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb named no display: {line:?}"));
        Xvfb { _proc: proc, display }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a port")
        .local_addr()
        .expect("local addr")
        .port()
}

impl App {
    /// Starts the app on `home`'s directories: the debug build, or the binary
    /// `$ARCHIVE_DESK_APP` names (the GUI benchmark measures the release build).
    pub async fn launch(home: &Home) -> App {
        App::launch_with(home, &[]).await
    }

    /// As [`App::launch`], with extra environment variables for the app.
    pub async fn launch_with(home: &Home, env: &[(&str, OsString)]) -> App {
        // Both rustls back ends are linked in this workspace; pick one for fantoccini.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let app = app_binary();
        assert!(
            app.exists(),
            "{} is missing: build it with `cargo build -p archive-desk` (scripts/test.sh does), \
             or set ARCHIVE_DESK_APP to the app binary",
            app.display()
        );
        let driver = servers::tools_dir().join("cargo/bin/tauri-driver");
        assert!(
            driver.exists(),
            "{} is missing: run scripts/install-tools.sh",
            driver.display()
        );
        // One app per config dir (single instance): a second launch beside a
        // running one would hand over to it and exit, and its WebDriver
        // session would never start.
        let running = app_processes(&home.config_dir());
        assert!(
            running.is_empty(),
            "an app (pids {running:?}) still runs on this config dir"
        );
        let xvfb = Xvfb::start();
        let display = xvfb.display;
        let port = free_port();
        let mut command = Command::new(&driver);
        command
            .args(["--port", &port.to_string(), "--native-port", &free_port().to_string()])
            .env("DISPLAY", format!(":{display}"))
            .env("ARCHIVE_DESK_CONFIG_DIR", home.config_dir())
            .env("ARCHIVE_DESK_DATA_DIR", home.data_dir())
            .env("ARCHIVE_DESK_CACHE_DIR", home.cache_dir())
            .env("ARCHIVE_DESK_E2E_DIALOG_DIR", home.dialogs())
            .env("ARCHIVE_DESK_LOG_DIR", home.log_dir())
            // The webview's own storage (localStorage: the pane widths) is
            // the test's too, not left over from another run.
            .env("XDG_DATA_HOME", home.path().join("xdg-data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let driver = Proc(command.spawn().expect("tauri-driver starts"));
        let mut caps = serde_json::Map::new();
        caps.insert("tauri:options".into(), serde_json::json!({ "application": app }));
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = loop {
            // A session whose app never starts would wait for ever: bounded.
            let mut builder = ClientBuilder::rustls().expect("rustls");
            builder.capabilities(caps.clone());
            let url = format!("http://127.0.0.1:{port}");
            let Ok(connected) = tokio::time::timeout(Duration::from_secs(90), builder.connect(&url)).await else {
                panic!("no WebDriver session within 90 s: the app did not start");
            };
            match connected {
                Ok(client) => break client,
                // The driver is still starting.
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(300)).await,
                Err(e) => panic!("could not start a WebDriver session: {e}"),
            }
        };
        App {
            client,
            config_dir: home.config_dir(),
            log_dir: home.log_dir(),
            _driver: driver,
            _xvfb: xvfb,
        }
    }

    /// Closes the app as its window's close button does (the window state
    /// is saved, the app exits) and returns once it has exited cleanly: its
    /// process is gone and its log ends with `exit`. The app is single-
    /// instance per config dir, so a relaunch on the same `Home` must never
    /// meet the old process. An app still running 30 s later is a failure
    /// (it is killed then, so it cannot outlive the test).
    ///
    /// The page closes its window (`window.close()`): ending the WebDriver
    /// session instead makes WebKitWebDriver SIGKILL the app when the
    /// session goes, racing the app's own exit, and with no window manager
    /// under Xvfb there is no title bar to click.
    pub async fn close(self) {
        let App {
            client,
            config_dir,
            log_dir,
            _driver,
            _xvfb,
        } = self;
        // Not checked: the page may be gone before WebKitWebDriver has passed
        // the script's answer on, which it then reports as a bare "unknown
        // error". What is checked is the app's exit, below.
        let _ = client.execute("setTimeout(() => window.close(), 0);", vec![]).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = app_processes(&config_dir);
            if left.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                for pid in &left {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
                panic!("the app (pids {left:?}) still ran 30 s after its window was closed: killed");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = read_log(&log_dir);
        let starts = log.lines().filter(|l| l.contains("[archive_desk] start ")).count();
        let exits = log.lines().filter(|l| l.ends_with("[archive_desk] exit")).count();
        assert_eq!(
            (starts, exits),
            (starts, starts),
            "the app did not exit cleanly (a start without its exit line) in {}:\n{log}",
            log_dir.display()
        );
        // The browser is gone: the session's end has nothing left to close.
        let _ = client.close().await;
        drop(_driver);
    }
}

/// The app's diagnostic log: every file in `dir`, oldest first.
pub fn read_log(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    // Rotated files are named with their date; the live one comes last.
    files.sort_by_key(|p| (p.file_name() == Some("archive-desk.log".as_ref()), p.clone()));
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect()
}

/// The app processes started on `config_dir` (Linux: read from /proc).
fn app_processes(config_dir: &Path) -> Vec<u32> {
    let wanted = format!("ARCHIVE_DESK_CONFIG_DIR={}", config_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            comm.trim_end() == "archive-desk"
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|var| var == wanted.as_bytes()))
                    .unwrap_or(false)
        })
        .collect()
}

/// The first element matching `css`, once it appears. Views re-render: a
/// node can be replaced between WebKitWebDriver's find and its handle
/// ("stale element"), which means "not there yet", as "no such element" does.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if e.is_no_such_element() || e.is_stale_element_reference() => {
                assert!(Instant::now() < deadline, "{css} did not appear in 30 s: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("finding {css}: {e}"),
        }
    }
}

/// Clicks the element matching `css` once it appears; found again if a
/// re-render replaced it between the find and the click.
pub async fn click(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match wait_for(client, css).await.click().await {
            Ok(_) => return,
            Err(e) if e.is_stale_element_reference() && Instant::now() < deadline => {}
            Err(e) => panic!("click {css}: {e}"),
        }
    }
}

/// `script` run in the page on the elements `css` matches (`arguments[0]`):
/// views re-render, so an element found a moment ago may be gone (stale),
/// while a query in the page sees the page as it is.
async fn in_page(client: &Client, script: &str, css: &str) -> serde_json::Value {
    client
        .execute(script, vec![css.into()])
        .await
        .unwrap_or_else(|e| panic!("script on {css}: {e}"))
}

/// The text of the first element matching `css` ("" when none does).
pub async fn text_of(client: &Client, css: &str) -> String {
    let script = "const el = document.querySelector(arguments[0]); return el ? el.textContent : '';";
    in_page(client, script, css)
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// How many elements match `css`.
pub async fn count_of(client: &Client, css: &str) -> u64 {
    let script = "return document.querySelectorAll(arguments[0]).length;";
    in_page(client, script, css).await.as_u64().expect("a count")
}

/// Whether the status bar says the users listing ended ("1 user in …",
/// "2,000 users in …").
pub fn users_listed(status: &str) -> bool {
    status.contains(" user in ") || status.contains(" users in ")
}

/// Wait until the text of `css` satisfies `ok`.
pub async fn wait_for_text(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = text_of(client, css).await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never got the expected text; last: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until no element matches `css`.
pub async fn wait_gone(client: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if count_of(client, css).await == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{css} is still shown");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Saves a screenshot as `<screenshots_dir>/<name>.png`.
pub async fn shot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

/// axe-core, from the UI's dev dependencies (`npm ci --prefix ui`).
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run `npm ci --prefix ui`)", path.display()))
}

/// Runs axe-core on the page as it is now and fails on any serious or
/// critical violation, naming `screen`, the rule and the elements. axe is
/// injected as the body of a WebDriver script (the page's strict CSP governs
/// the page's own scripts, not the driver's), once per page load.
///
/// axe runs for seconds (more on a loaded machine) while the page keeps
/// working: it is started by one short script and its outcome read back by
/// more, so no WebDriver command stays pending through it. A command that
/// is pending when the page's script context goes away fails with a bare
/// "unknown error" in WebKitWebDriver; an outcome that vanished means the
/// page was loaded afresh, and is said so.
pub async fn axe_check(client: &Client, screen: &str) {
    let loaded = client
        .execute("return typeof window.axe;", vec![])
        .await
        .unwrap_or_else(|e| panic!("axe-core on {screen}: is it loaded: {e:?}"));
    if loaded != serde_json::json!("object") {
        let loaded = client
            .execute(&format!("{}\nreturn typeof window.axe;", axe_source()), vec![])
            .await
            .unwrap_or_else(|e| panic!("axe-core on {screen}: inject: {e:?}"));
        assert_eq!(loaded, serde_json::json!("object"), "axe-core did not load on {screen}");
    }
    let run = format!("axe-{}", servers::token());
    client
        .execute(
            "const run = arguments[0];
             window.__axeRun = { run, state: 'running' };
             window.axe.run(document, { resultTypes: ['violations'] }).then(
               r => { window.__axeRun = { run, state: 'done', violations: r.violations.map(v => ({ id: v.id,
                        impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + n.failureSummary) })) }; },
               e => { window.__axeRun = { run, state: 'failed', error: String(e) }; });",
            vec![run.clone().into()],
        )
        .await
        .unwrap_or_else(|e| panic!("axe-core on {screen}: start: {e:?}"));
    let deadline = Instant::now() + Duration::from_secs(180);
    let outcome = loop {
        // A string: nothing for the driver to walk through but one value.
        let state = client
            .execute("return JSON.stringify(window.__axeRun || null);", vec![])
            .await
            .unwrap_or_else(|e| panic!("axe-core on {screen}: read its outcome: {e:?}"));
        let state: serde_json::Value = serde_json::from_str(state.as_str().unwrap_or("null")).expect("JSON");
        assert_eq!(
            state["run"].as_str(),
            Some(run.as_str()),
            "axe-core on {screen}: the page was loaded afresh while axe ran ({state})"
        );
        if state["state"] != "running" {
            break state;
        }
        assert!(Instant::now() < deadline, "axe-core on {screen} still ran after 180 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let violations = outcome["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("axe-core failed on {screen}: {outcome}"));
    let serious: Vec<_> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(
        serious.is_empty(),
        "axe-core on {screen}: {} serious or critical violation(s):\n{}",
        serious.len(),
        serde_json::to_string_pretty(&serious).unwrap()
    );
}
