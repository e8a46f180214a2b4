//! The app and its page: launching it instrumented, and what the
//! benchmark does and times in the page (typing, marks, commands, stalls).

use super::*;

/// The app launched (`archive_desk_e2e::App`) and instrumented, with the
/// epoch time its process started (from /proc: the launch is timed from
/// there, not from Xvfb's or the driver's start).
pub(super) struct Launched {
    pub(super) app: App,
    pub(super) started_at_ms: f64,
}

pub(super) fn epoch_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0
}

/// The start time (epoch ms) of the app process whose cache dir is `cache`.
pub(super) fn app_started_at_ms(cache: &Path) -> f64 {
    // /proc/<pid>/exe is the canonical path.
    let exe = app_binary().canonicalize().unwrap();
    let wanted = format!("ARCHIVE_DESK_CACHE_DIR={}", cache.display());
    // Boot time from the uptime (10 ms steps), not /proc/stat's `btime`:
    // whole seconds, which put every launch up to 1 s late (this machine's
    // boot fell 0.37 s past its second: the page seemed to load after the
    // shell saw it finish).
    let uptime_s: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let boot_s = epoch_ms() / 1000.0 - uptime_s;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let dir = entry.path();
        if std::fs::read_link(dir.join("exe")).ok().as_deref() != Some(exe.as_path()) {
            continue;
        }
        let environ = std::fs::read(dir.join("environ")).unwrap_or_default();
        if !environ.split(|b| *b == 0).any(|v| v == wanted.as_bytes()) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Field 22 (starttime, clock ticks after boot), counted after the ")" ending the name.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let ticks: f64 = after_name.split(' ').nth(19).unwrap().parse().unwrap();
        // USER_HZ is 100 on Linux.
        return (boot_s + ticks / 100.0) * 1000.0;
    }
    panic!("no running {} with {wanted}", exe.display());
}

pub(super) async fn launch(home: &Home) -> Launched {
    let app = App::launch(home).await;
    let started_at_ms = app_started_at_ms(&home.cache_dir());
    app.client
        .execute(INSTRUMENT, vec![])
        .await
        .expect("instrument the page");
    eprintln!(
        "bench-gui: session ready {:.0} ms after the app started",
        epoch_ms() - started_at_ms
    );
    Launched { app, started_at_ms }
}

/// Installed in the page right after launch: the stall monitors, the time
/// of the last keystroke, and when each result first shows.
pub(super) const INSTRUMENT: &str = r#"
const b = window.__bench = { stall: 0, longTask: 0, longTasks: 0, observer: false, keyAt: 0, seen: {} };
try {
  if ((PerformanceObserver.supportedEntryTypes || []).includes('longtask')) {
    new PerformanceObserver((list) => { for (const e of list.getEntries()) { b.longTasks++; b.longTask = Math.max(b.longTask, e.duration); } })
      .observe({ type: 'longtask', buffered: true });
    b.observer = true;
  }
} catch (e) {}
let last = performance.now();
setInterval(() => { const now = performance.now(); b.stall = Math.max(b.stall, now - last); last = now; }, 5);
document.addEventListener('keydown', () => { b.keyAt = performance.now(); }, true);
const note = (key) => { if (!(key in b.seen)) b.seen[key] = performance.now(); };
new MutationObserver(() => {
  const head = document.querySelector('.results-head');
  if (head && head.textContent) note('results:' + head.textContent);
  const user = document.querySelector('.conv-pane .pane-head h2');
  if (user && document.querySelector('.conv-pane tbody tr')) note('user:' + user.textContent);
  const msg = document.querySelector('.transcript .msg');
  if (msg) note('transcript:' + document.querySelector('.conv-title').textContent);
}).observe(document.body, { childList: true, subtree: true, characterData: true });
"#;

pub(super) async fn js(client: &Client, script: &str, args: Vec<Value>) -> Value {
    client
        .execute(script, args)
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Poll the page until `script` returns something other than null.
pub(super) async fn until(client: &Client, what: &str, script: &str, args: Vec<Value>, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = js(client, script, args.clone()).await;
        if !v.is_null() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Epoch ms of a User Timing mark, once set.
pub(super) async fn mark(client: &Client, name: &str, limit: Duration) -> f64 {
    mark_every(client, name, limit, Duration::from_millis(20)).await
}

pub(super) async fn mark_every(client: &Client, name: &str, limit: Duration, every: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    loop {
        let v = js(
            client,
            "const m = performance.getEntriesByName(arguments[0])[0]; return m ? performance.timeOrigin + m.startTime : null;",
            vec![name.into()],
        )
        .await;
        if let Some(at) = v.as_f64() {
            return at;
        }
        assert!(Instant::now() < deadline, "{name}: not within {limit:?}");
        tokio::time::sleep(every).await;
    }
}

/// Where the launch's time goes, each step's ms after the process
/// started: the page's navigation start (`performance.timeOrigin`: the
/// webview is up), its script's start, its first call to the app, the
/// profile opened (`open_profile` answered), `list_users` called, the
/// page's first paints (when the webview reports them) and the first user row.
pub(super) async fn launch_phases(client: &Client, started_at_ms: f64) -> String {
    let v = js(
        client,
        "const at = (n) => { const m = performance.getEntriesByName(n)[0]; return m ? performance.timeOrigin + m.startTime : null; };
         const paint = (n) => { const p = performance.getEntriesByType('paint').find((e) => e.name === n); return p ? performance.timeOrigin + p.startTime : null; };
         return [performance.timeOrigin, at('archive-desk:script-start'), at('archive-desk:first-call'),
                 at('archive-desk:profile-opened'), at('archive-desk:list-users'), paint('first-paint'),
                 paint('first-contentful-paint'), at('archive-desk:first-user-row')];",
        vec![],
    )
    .await;
    let names = [
        "webview navigating",
        "script start",
        "first call",
        "profile opened",
        "users asked for",
        "first paint",
        "first contentful paint",
        "first row",
    ];
    names
        .iter()
        .zip(v.as_array().unwrap())
        .map(|(name, at)| match at.as_f64() {
            Some(at) => format!("{name} {:.0}", at - started_at_ms),
            None => format!("{name} —"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shell's own launch steps from its log (`diagnostics::since_start_ms`,
/// timed from `main`: the same origin as `launch_phases`, give or take the
/// exec): its setup (after the window was built), the page's load as the
/// shell sees it, the profile's session opened early, the users read from
/// the catalog or their listing started, the listing's first batch.
pub(super) fn shell_phases(home: &Home) -> String {
    let log = std::fs::read_to_string(home.log_dir().join("archive-desk.log")).unwrap_or_default();
    let steps = [
        ("setup begins", "window built, setup begins"),
        ("start version=", "setup done"),
        ("page load started", "page load started"),
        ("page load finished", "page load finished"),
        ("early open: session", "session"),
        ("early open: users read from the catalog", "users read from the catalog"),
        ("early open: users listing started", "listing started"),
        ("users: first batch", "first batch listed"),
        // Named by the line itself: how many users went.
        ("open_profile: ", ""),
    ];
    // Every occurrence, in the log's order (a page loaded twice shows twice).
    let found: Vec<String> = log
        .lines()
        .filter_map(|line| {
            let (text, name) = steps.iter().find(|(text, _)| line.contains(text))?;
            let (before, after) = line.rsplit_once(" at ")?;
            let name = match *name {
                "" => before.rsplit_once(text).map_or(before, |(_, said)| said),
                name => name,
            };
            Some(format!("{name} {}", after.trim_end_matches(" ms")))
        })
        .collect();
    if found.is_empty() {
        "— (no launch notes in the app's log)".to_owned()
    } else {
        found.join(", ")
    }
}

/// An empty search box, and nothing noted as seen yet.
pub(super) async fn clear_search(client: &Client) {
    js(
        client,
        "const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input', {bubbles: true})); s.focus();",
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    js(client, "window.__bench.seen = {};", vec![]).await;
}

/// Type `text` into the search box key by key; then the ms from the last
/// keystroke to the first time a `__bench.seen` key starting with `prefix`
/// and containing `needle` showed.
pub(super) async fn typed_until(client: &Client, text: &str, prefix: &str, needle: &str) -> f64 {
    clear_search(client).await;
    client
        .find(Locator::Css("#search"))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
    let v = until(
        client,
        prefix,
        "const [prefix, needle] = arguments; const b = window.__bench;
         const k = Object.keys(b.seen).find((k) => k.startsWith(prefix) && k.includes(needle) && b.seen[k] >= b.keyAt);
         return k ? b.seen[k] - b.keyAt : null;",
        vec![prefix.into(), needle.into()],
        Duration::from_secs(60),
    )
    .await;
    v.as_f64().unwrap()
}

/// One command alone, invoked from the page five times in a row: ms each
/// (the part of a measure the backend and the IPC take).
pub(super) async fn invoke_ms(client: &Client, command: &str, args: Value) -> Vec<f64> {
    let v = client
        .execute_async(
            "const [command, args, done] = arguments; const times = [];
             const once = (n) => { const t0 = performance.now();
               window.__TAURI_INTERNALS__.invoke(command, args).then(() => { times.push(performance.now() - t0); n > 1 ? once(n - 1) : done(times); }, (e) => done(String(e.message))); };
             once(5);",
            vec![command.into(), args],
        )
        .await
        .expect("the command runs");
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("{command}: {v}"))
}

/// `open_conversation` with `args`, then `conversation_messages` for the
/// rest it left out, five times in turn: the times of each, from the page.
pub(super) async fn open_then_rest_ms(client: &Client, args: Value) -> (Vec<f64>, Vec<f64>) {
    let v = client
        .execute_async(
            "const [args, done] = arguments; const open = [], rest = [];
             const invoke = (command, a) => window.__TAURI_INTERNALS__.invoke(command, a);
             const once = async (n) => {
               let t0 = performance.now();
               const view = await invoke('open_conversation', args);
               open.push(performance.now() - t0);
               t0 = performance.now();
               await invoke('conversation_messages', { ...args, from: view.messages.length });
               rest.push(performance.now() - t0);
               n > 1 ? once(n - 1) : done([open, rest]);
             };
             once(5).catch((e) => done(String(e.message)));",
            vec![args],
        )
        .await
        .expect("the commands run");
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("open then rest: {v}"))
}

pub(super) fn list_ms(v: &[f64]) -> String {
    v.iter().map(|t| format!("{t:.0}")).collect::<Vec<_>>().join(", ")
}

pub(super) async fn email_to_conversations(client: &Client, email: &str) -> f64 {
    typed_until(client, email, &format!("user:{email}"), "").await
}

pub(super) async fn keystroke_to_results(client: &Client, query: &str) -> f64 {
    typed_until(client, query, "results:", &format!("“{query}”")).await
}

/// The app's stall monitors since the last reset: (longest gap between
/// timer ticks, longest long task, long tasks seen, observer available).
pub(super) async fn stalls(client: &Client, reset: bool) -> (f64, f64, u64, bool) {
    let v = js(
        client,
        "const b = window.__bench; const r = [b.stall, b.longTask, b.longTasks, b.observer];
         if (arguments[0]) { b.stall = 0; b.longTask = 0; b.longTasks = 0; } return r;",
        vec![reset.into()],
    )
    .await;
    (
        v[0].as_f64().unwrap(),
        v[1].as_f64().unwrap(),
        v[2].as_u64().unwrap(),
        v[3].as_bool().unwrap(),
    )
}

/// Open the 10,000-message conversation (its user already shown): ms from
/// the click to the first messages on screen, and to all of them rendered
/// (the transcript scrolled to its end every 50 ms, batch after batch),
/// or how many were rendered when two minutes were up.
pub(super) async fn open_big_conversation(client: &Client) -> (f64, Result<f64, u64>) {
    js(
        client,
        "const b = window.__bench; const row = document.querySelector(`tr[data-id='${arguments[0]}'] td.title`);
         b.openedAt = performance.now(); b.firstMessageAt = null;
         new MutationObserver((_, o) => {
           if (document.querySelector('.transcript .msg')) { b.firstMessageAt = performance.now(); o.disconnect(); }
         }).observe(document.body, { childList: true, subtree: true });
         row.click();",
        vec![BIG_ID.into()],
    )
    .await;
    let first = until(
        client,
        "first messages",
        "const b = window.__bench; return b.firstMessageAt === null ? null : b.firstMessageAt - b.openedAt;",
        vec![],
        Duration::from_secs(60),
    )
    .await
    .as_f64()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = js(
            client,
            "const [n] = arguments; const b = window.__bench; const list = document.querySelector('.transcript');
             const shown = list.querySelectorAll('.msg').length;
             if (shown >= n) { b.wholeAt = b.wholeAt || performance.now(); return [shown, b.wholeAt - b.openedAt]; }
             list.scrollTop = list.scrollHeight; return [shown, null];",
            vec![BIG_MESSAGES.into()],
        )
        .await;
        if let Some(whole) = v[1].as_f64() {
            return (first, Ok(whole));
        }
        if Instant::now() > deadline {
            return (first, Err(v[0].as_u64().unwrap_or(0)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
