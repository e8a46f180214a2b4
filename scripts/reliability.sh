#!/usr/bin/env bash
# The long crash runs of docs/RELIABILITY.md: the real archive-desk-cli killed
# with SIGKILL during delete, repair, export-user, sync, the three restore
# modes and a bulk restore, ARCHIVE_DESK_CRASH_RUNS times each (default 50; ARCHIVE_DESK_CRASH_SEED
# replays a run), then writes the crash table into docs/RELIABILITY.md; and the
# chaos runs: every operation through the fault proxy under a fault mix,
# ARCHIVE_DESK_CHAOS_RUNS times each (default 50; ARCHIVE_DESK_CHAOS_SEED
# replays), then the chaos table. `scripts/reliability.sh crash` or `chaos`
# runs one of the two; `scripts/reliability.sh fuzz` runs every fuzz target
# for ARCHIVE_DESK_FUZZ_SECONDS (default 720) in libFuzzer's fork mode with
# ARCHIVE_DESK_FUZZ_JOBS workers (default: the CPU count), then writes the
# fuzz table (about an hour with the defaults). `all` (the default) runs the
# three, so one command writes every table. Not part of the test suite (scripts/test.sh runs the
# short passes); about 15-20 minutes (crash) and 10 (chaos) on 2 cores. Run
# it niced on a shared machine:
#   nice -n 10 scripts/reliability.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export ARCHIVE_DESK_CRASH_RUNS="${ARCHIVE_DESK_CRASH_RUNS:-50}"
export ARCHIVE_DESK_CHAOS_RUNS="${ARCHIVE_DESK_CHAOS_RUNS:-50}"
which="${1:-all}"

scripts/install-tools.sh
scripts/install-supabase-stack.sh

# Put the table in FILE between <!-- NAME-table:start --> and <!-- NAME-table:end -->
# of docs/RELIABILITY.md, and show it.
write_table() {
  python3 -c '
import pathlib, sys
name, table = sys.argv[1], pathlib.Path(sys.argv[2]).read_text().rstrip("\n")
doc = pathlib.Path("docs/RELIABILITY.md")
start, end = f"<!-- {name}-table:start -->", f"<!-- {name}-table:end -->"
head, rest = doc.read_text().split(start)
_, tail = rest.split(end)
doc.write_text(f"{head}{start}\n{table}\n{end}{tail}")
' "$1" "$2"
  cat "$2"
}

run_crash() {
report="$reports/crash"
mkdir -p "$report"
started="$(date -u +%Y-%m-%dT%H:%MZ)"
ARCHIVE_DESK_CRASH_REPORT="$report" cargo test --locked -p archive-desk-cli --test crash -- \
  --test-threads 2 --nocapture 2>&1 | tee "$report/log.txt" || status=1

python3 - "$report" "$machine" "$started" "$ARCHIVE_DESK_CRASH_RUNS" "$status" <<'PY' >"$report/table.md"
import json, pathlib, sys
report, machine, started, runs, status = sys.argv[1:]
ops = ["delete", "repair", "export-user", "sync", "restore-rest", "restore-rpc", "restore-postgres", "restore-bulk"]
rows, total = [], 0
for op in ops:
    p = pathlib.Path(report, op + ".json")
    if not p.exists():
        rows.append(f"| {op} | 0 of {runs} | — | — | did not run to its first kill |")
        continue
    t = json.loads(p.read_text())
    total += len(t["violations"])
    done = "" if t["finished"] else " (stopped early)"
    notes = "".join(f"; {what}: {n} runs" for what, n in t["notes"].items())
    rows.append(
        f"| {op} | {t['runs']} of {runs}{done} | {t['killed']} ({t['killed_at_request']} at a chosen point) "
        f"| {len(t['violations'])} | seed {t['seed']}, {t['seconds']} s{notes} |"
    )
    for v in t["violations"]:
        rows.append(f"| | | | | {v} |")
table = "\n".join([
    f"Run on {started} on {machine}, with `nice -n 10 scripts/reliability.sh` "
    f"(ARCHIVE_DESK_CRASH_RUNS={runs}); cargo test exited with status {status}.",
    "",
    "| operation | runs | killed while running | invariant violations | notes |",
    "|---|---|---|---|---|",
    *rows,
    "",
    f"Invariant violations in all: {total} (goal: 0).",
])
print(table)
PY
write_table crash "$report/table.md"
}

run_chaos() {
report="$reports/chaos"
mkdir -p "$report"
started="$(date -u +%Y-%m-%dT%H:%MZ)"
local tests=0
ARCHIVE_DESK_CHAOS_REPORT="$report" cargo test --locked -p archive-desk-cli --test chaos -- \
  --test-threads 2 --nocapture 2>&1 | tee "$report/log.txt" || tests=$?
[ "$tests" = 0 ] || status=1
python3 - "$report" "$machine" "$started" "$ARCHIVE_DESK_CHAOS_RUNS" "$tests" <<'PY' >"$report/table.md"
import json, pathlib, sys
report, machine, started, runs, status = sys.argv[1:]
ops = ["users", "users-details", "index", "show", "export", "export-user", "sync",
       "delete", "delete-versioned", "repair", "restore"]
rows, total, attempted = [], 0, 0
for op in ops:
    p = pathlib.Path(report, op + ".json")
    if not p.exists():
        rows.append(f"| {op} | 0 | — | — | — | did not run |")
        continue
    t = json.loads(p.read_text())
    total += len(t["violations"])
    attempted += t["attempted"]
    done = "" if t["finished"] else " (stopped early)"
    faults = ", ".join(f"{n} {k}" for k, n in t["faults"].items())
    codes = ", ".join(f"`{k}` {n}" for k, n in t["codes"].items()) or "—"
    rows.append(
        f"| {op} | {t['attempted']}{done} | {t['completed']} | {t['failed_cleanly']} (codes: {codes}) "
        f"| {len(t['violations'])} | faults injected: {faults}; seed {t['seed']}, {t['seconds']} s |"
    )
    for v in t["violations"]:
        rows.append(f"| | | | | | {v} |")
table = "\n".join([
    f"Run on {started} on {machine}, with `nice -n 10 scripts/reliability.sh chaos` "
    f"(ARCHIVE_DESK_CHAOS_RUNS={runs}); cargo test exited with status {status}.",
    "",
    "| operation | attempted | completed | failed cleanly, then the retry completed | lost, duplicated, partial or unclear | notes |",
    "|---|---|---|---|---|---|",
    *rows,
    "",
    f"Runs in all: {attempted}; lost, duplicated, partial or unclear: {total} (goal: 0).",
])
print(table)
PY
write_table chaos "$report/table.md"
}

run_fuzz() {
report="$reports/fuzz"
mkdir -p "$report"
started="$(date -u +%Y-%m-%dT%H:%MZ)"
local seconds="${ARCHIVE_DESK_FUZZ_SECONDS:-720}" jobs="${ARCHIVE_DESK_FUZZ_JOBS:-$(nproc)}"
local fuzz_dir="${ARCHIVE_DESK_FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}"
scripts/fuzz.sh 1 >/dev/null # build once, before any clock starts
local targets
# cargo-fuzz lives in the tools dir (scripts/install-tools.sh), as fuzz.sh finds it.
targets="$(PATH="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}/cargo/bin:$PATH" cargo +nightly fuzz list --fuzz-dir fuzz)"
[ -n "$targets" ] || { echo "reliability.sh: no fuzz targets listed" >&2; exit 1; }
for t in $targets; do
  local before
  before="$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)"
  # CPU time of the run and every job it forks (bash's `time` counts waited-for children).
  TIMEFORMAT='%R %U %S'
  { time ARCHIVE_DESK_FUZZ_ARGS="-fork=$jobs -ignore_crashes=1" scripts/fuzz.sh "$seconds" "$t" \
      >"$report/$t.out" 2>&1 || status=1; } 2>"$report/$t.time"
  cp "$fuzz_dir/fuzz-$t.log" "$report/$t.log"
  echo "$(( $(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l) - before ))" >"$report/$t.found"
  echo "fuzz $t: $(cat "$report/$t.time") (wall user sys, s)"
done
python3 - "$report" "$machine" "$started" "$seconds" "$jobs" "$(rustc +nightly --version)" <<'PY' >"$report/table.md"
import pathlib, re, sys
report, machine, started, seconds, jobs, rustc = sys.argv[1:]
rows, wall_all, cpu_all, execs_all, found_all = [], 0.0, 0.0, 0, 0
for log in sorted(pathlib.Path(report).glob("*.log")):
    t = log.stem
    wall, user, sys_ = (float(x) for x in pathlib.Path(report, t + ".time").read_text().split()[-3:])
    found = int(pathlib.Path(report, t + ".found").read_text())
    last = [m for m in re.finditer(r"^#(\d+): .*?corp: (\d+).*?oom/timeout/crash: (\d+)/(\d+)/(\d+)", log.read_text(), re.M)]
    execs, corpus, oom, timeout, crash = (int(x) for x in last[-1].groups()) if last else (0, 0, 0, 0, 0)
    wall_all += wall; cpu_all += user + sys_; execs_all += execs; found_all += found
    rows.append(f"| `{t}` | {wall/60:.1f} min | {(user+sys_)/60:.1f} min | {execs:,} | {corpus:,} | {crash} / {timeout} / {oom} | {found} |")
table = "\n".join([
    f"Run on {started} on {machine}, with `scripts/reliability.sh fuzz` "
    f"(ARCHIVE_DESK_FUZZ_SECONDS={seconds} per target, fork mode with {jobs} workers; {rustc}).",
    "",
    "| target | wall | CPU (user + sys, every job) | executions | corpus units | crashes / timeouts / out of memory | new inputs in fuzz/artifacts |",
    "|---|---|---|---|---|---|---|",
    *rows,
    f"| all | {wall_all/3600:.2f} h | **{cpu_all/3600:.2f} h** | {execs_all:,} | | | {found_all} |",
])
print(table)
PY
write_table fuzz "$report/table.md"
}

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
status=0
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release && echo "$PRETTY_NAME")"
case "$which" in
  crash) run_crash ;;
  chaos) run_chaos ;;
  fuzz) run_fuzz ;;
  all) run_crash; run_chaos; run_fuzz ;;
  *) echo "usage: $0 [crash|chaos|fuzz|all]" >&2; exit 2 ;;
esac
exit "$status"
