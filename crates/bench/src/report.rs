//! The report: number formats, the machine, how loaded it was during each
//! section (other agents build on the same 2 cores), and writing the
//! results below the marker in docs/BENCHMARKS.md.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `a / b`.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_default();
    format!("{} cores ({cpu}), {} GiB RAM, {os}", cores(), mem_kb >> 20)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// CPU time in clock ticks: the whole machine busy, and this process with
/// every descendant (its servers, peers and children, live or reaped).
#[derive(Clone, Copy)]
struct CpuTicks {
    machine_busy: u64,
    machine_total: u64,
    ours: u64,
}

fn cpu_ticks() -> CpuTicks {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let machine_total: u64 = fields.iter().take(8).sum();
    // idle and iowait are not busy.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    CpuTicks {
        machine_busy: machine_total.saturating_sub(idle),
        machine_total,
        ours: tree_ticks(std::process::id()),
    }
}

/// utime + stime + reaped children's, of `root` and every live descendant.
fn tree_ticks(root: u32) -> u64 {
    let mut parent_of = HashMap::new();
    let mut ticks_of = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name (which may hold spaces): state, ppid, …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        parent_of.insert(pid, num(1) as u32);
        // utime, stime, cutime, cstime: fields 14-17 of stat.
        ticks_of.insert(pid, num(11) + num(12) + num(13) + num(14));
    }
    let mut tree = HashSet::from([root]);
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, parent) in &parent_of {
            if tree.contains(parent) && tree.insert(*pid) {
                grew = true;
            }
        }
    }
    tree.iter().filter_map(|pid| ticks_of.get(pid)).sum()
}

/// One timed section of the run, with the machine's load over it.
pub struct Section {
    name: String,
    started: Instant,
    load_1min: f64,
    ticks: CpuTicks,
}

struct SectionRow {
    name: String,
    elapsed: Duration,
    load_1min: f64,
    machine_busy: f64,
    ours: f64,
}

/// The sections measured so far.
#[derive(Default)]
pub struct Sections {
    rows: Vec<SectionRow>,
}

fn load_1min() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

impl Sections {
    pub fn start(&mut self, name: impl Into<String>) -> Section {
        Section {
            name: name.into(),
            started: Instant::now(),
            load_1min: load_1min(),
            ticks: cpu_ticks(),
        }
    }

    pub fn end(&mut self, section: Section) {
        let now = cpu_ticks();
        let total = now.machine_total.saturating_sub(section.ticks.machine_total).max(1) as f64;
        // Shares of the whole machine (all cores), in cores.
        let cores = cores() as f64;
        self.rows.push(SectionRow {
            name: section.name,
            elapsed: section.started.elapsed(),
            load_1min: section.load_1min,
            machine_busy: cores * now.machine_busy.saturating_sub(section.ticks.machine_busy) as f64 / total,
            ours: (cores * now.ours.saturating_sub(section.ticks.ours) as f64 / total).min(cores),
        });
    }

    pub fn markdown(&self) -> String {
        let mut md = format!(
            "\n### Machine load during the run ({} cores, shared with other agents' builds)\n\n\
             CPU in use, in cores, averaged over each section: the whole machine, the benchmark with \
             its servers and peers, and everything else.\n\n\
             | section | wall | 1-min load at start | machine busy | bench + servers | others |\n\
             |---|---|---|---|---|---|\n",
            cores()
        );
        for r in &self.rows {
            md.push_str(&format!(
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                r.name,
                secs(r.elapsed),
                r.load_1min,
                r.machine_busy,
                r.ours,
                (r.machine_busy - r.ours).max(0.0)
            ));
        }
        md
    }
}

/// Replace what follows the marker in `out` with `md`.
pub fn write_results(out: &Path, md: &str) {
    let doc = std::fs::read_to_string(out).unwrap_or_default();
    let marker = "<!-- bench:results -->";
    let new_doc = match doc.split_once(marker) {
        Some((head, _)) => format!("{head}{marker}\n\n{md}"),
        None => format!("# Benchmarks\n\n{marker}\n\n{md}"),
    };
    std::fs::write(out, new_doc).expect("write the results");
    eprintln!("bench: wrote {}", out.display());
}
