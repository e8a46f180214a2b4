//! The goals of docs/BENCHMARKS.md, checked against this run's numbers:
//! one line per goal and link, with the ratio it was judged on.

use std::time::Duration;

use crate::export::ExportRow;
use crate::link::Link;
use crate::open::OpenRow;
use crate::report::{ms, ratio, secs};
use crate::restore::{RestoreRow, SNIPPET_NAME};
use crate::search::SearchResult;
use crate::sync::SyncRow;

/// The latencies the sync goals are set at.
const SYNC_GOAL_MS: [u64; 2] = [20, 80];

struct Line {
    goal: String,
    measured: String,
    met: bool,
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "**missed**"
    }
}

pub fn markdown(
    sync: &[SyncRow],
    open: &[OpenRow],
    export: &[ExportRow],
    restore: &[RestoreRow],
    search: Option<&SearchResult>,
) -> String {
    let mut lines = Vec::new();
    for r in sync
        .iter()
        .filter(|r| matches!(r.link, Link::Latency(ms) if SYNC_GOAL_MS.contains(&ms)))
    {
        if let Some((rclone, _)) = r.rclone {
            let x = ratio(rclone, r.cold);
            lines.push(Line {
                goal: format!("cold sync ≥ 2x rclone copy --transfers 32 ({}, {})", r.server, r.link),
                measured: format!("{x:.2}x ({} vs {})", secs(r.cold), secs(rclone)),
                met: x >= 2.0,
            });
        }
        let ceiling = r.best_ceiling();
        let share = ratio(ceiling.elapsed, r.cold);
        lines.push(Line {
            goal: format!("cold sync ≥ 80% of the raw GET ceiling ({}, {})", r.server, r.link),
            measured: format!(
                "{:.0}% ({} vs {} for {} GETs at {})",
                100.0 * share,
                secs(r.cold),
                secs(ceiling.elapsed),
                ceiling.gets,
                ceiling.concurrency
            ),
            met: share >= 0.8,
        });
        if let Some((warm, fetched, _)) = r.warm {
            let share = ratio(warm, r.cold);
            lines.push(Line {
                goal: format!("warm sync, 1% changed, ≤ 5% of cold ({}, {})", r.server, r.link),
                measured: format!("{:.1}% ({}, {fetched} fetched)", 100.0 * share, secs(warm)),
                met: share <= 0.05,
            });
        }
    }
    for r in export
        .iter()
        .filter(|r| r.link == Link::Latency(80) && r.conversations >= 1_000)
    {
        let mb = r.peak_rss_kb as f64 / 1024.0;
        lines.push(Line {
            goal: "export-user of 1,000 conversations at 80 ms ≤ 8 s, peak RSS < 150 MB".into(),
            measured: format!("{}, {mb:.1} MB", secs(r.elapsed)),
            met: r.elapsed <= Duration::from_secs(8) && mb < 150.0,
        });
    }
    for r in open
        .iter()
        .filter(|r| r.label.starts_with("10,000") && r.link == Link::Latency(80))
    {
        lines.push(Line {
            goal: format!(
                "{} at 80 ms: first messages in the core ≤ 300 ms (on screen: the GUI benchmark)",
                r.label
            ),
            measured: format!(
                "{} (whole transcript; first byte {})",
                ms(r.whole_p50),
                ms(r.first_byte_p50)
            ),
            met: r.whole_p50 <= Duration::from_millis(300),
        });
    }
    for r in restore.iter().filter(|r| r.method != SNIPPET_NAME) {
        let Some(snippet) = restore.iter().find(|s| s.link == r.link && s.method == SNIPPET_NAME) else {
            continue;
        };
        let x = ratio(snippet.p50, r.p50);
        lines.push(Line {
            goal: format!(
                "restore ≥ 2x faster than the archiver's snippet: {} ({})",
                r.method, r.link
            ),
            measured: format!("{x:.2}x ({} vs {})", ms(r.p50), ms(snippet.p50)),
            met: x >= 2.0,
        });
    }
    if let Some(s) = search {
        lines.push(Line {
            goal: "search p95 ≤ 20 ms over the catalog".into(),
            measured: ms(s.all_p95),
            met: s.all_p95 <= Duration::from_millis(20),
        });
    }
    let mut md = String::from("\n### Goals, judged on this run\n\n| goal | measured | |\n|---|---|---|\n");
    for l in lines {
        md.push_str(&format!("| {} | {} | {} |\n", l.goal, l.measured, met(l.met)));
    }
    md
}
