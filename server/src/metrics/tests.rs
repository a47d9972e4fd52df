//! Every family of `/metrics` is a clean exposition: HELP and TYPE lines,
//! one quantity in one unit. What `promtool check metrics` says of the
//! endpoint's answer is tested against a running server in
//! `server/tests/api/metrics.rs` (when promtool is installed).

use std::collections::BTreeMap;

use memstats::{AllocatorStats, DebugMemory, JobInFlight, ProcMemory, StageMemory};

use super::exposition::to_text_format;
use super::*;

/// A rendering in which every family has samples, labelled ones included.
fn rendered() -> String {
    let m = Metrics::new();
    m.job_started();
    m.job_finished("completed");
    m.job_seconds.observe(1.5);
    m.record_stages(&[StageMemory {
        stage: "pdf".into(),
        duration_ms: 1200,
        allocated_high_water: 50 << 20,
        allocated_at_start: 10 << 20,
        thread_allocated: Some(80 << 20),
        thread_live_after: Some(0),
    }]);
    let mem = DebugMemory {
        allocator: "jemalloc".into(),
        jemalloc: Some(AllocatorStats {
            allocated: 1,
            active: 2,
            resident: 3,
            mapped: 4,
            retained: 5,
            metadata: 6,
        }),
        allocator_options: serde_json::Value::Null,
        process: ProcMemory {
            rss: 7,
            hwm: 8,
            ..ProcMemory::default()
        },
        modelled_runtime_bytes: 9,
        uncollected_bytes: 10,
        queue_depth: 2,
        jobs_in_flight: vec![JobInFlight {
            job_id: 1,
            stage: "pdf".into(),
            progress: 60,
            elapsed_ms: 5,
            live_bytes: None,
        }],
        uptime_ms: 1,
    };
    let pool = PoolStatus {
        open: 3,
        idle: 1,
        peak_open: 4,
        pool_size: 5,
        max_open: 10,
    };
    m.render(&mem, pool)
}

/// A family as its `# HELP`, `# TYPE` and `# UNIT` lines declare it.
#[derive(Default, Debug)]
struct Declared {
    help: Option<String>,
    kind: Option<String>,
    unit: Option<String>,
}

fn declared(text: &str) -> BTreeMap<String, Declared> {
    let mut families: BTreeMap<String, Declared> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(4, ' ');
        if words.next() != Some("#") {
            continue;
        }
        let (Some(what), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let rest = words.next().map(str::to_string);
        let f = families.entry(name.to_string()).or_default();
        match what {
            "HELP" => f.help = rest,
            "TYPE" => f.kind = rest,
            "UNIT" => f.unit = rest,
            _ => {}
        }
    }
    families
}

/// Each sample's metric name and label names.
fn samples(text: &str) -> Vec<(String, Vec<String>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let series = l.rsplit_once(' ').map_or(l, |(s, _)| s);
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            let labels = labels
                .trim_end_matches('}')
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
                .collect();
            (name.to_string(), labels)
        })
        .collect()
}

const UNITS: [&str; 2] = ["bytes", "seconds"];

#[test]
fn every_family_has_help_type_and_at_most_one_unit_that_its_name_ends_with() {
    let text = rendered();
    let families = declared(&text);
    assert!(families.len() >= 25, "{families:?}");
    for (name, f) in &families {
        let help = f.help.as_deref().unwrap_or_default();
        assert!(help.len() > 10, "{name}: no help text");
        let kind = f.kind.as_deref().unwrap_or_default();
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind),
            "{name}: type {kind:?}"
        );
        let units: Vec<&str> = UNITS
            .iter()
            .copied()
            .filter(|u| name.split('_').any(|w| w == *u))
            .collect();
        assert!(units.len() <= 1, "{name}: more than one unit");
        match units.first() {
            Some(unit) => {
                assert!(
                    name.ends_with(&format!("_{unit}")),
                    "{name}: unit inside the name"
                );
                assert_eq!(f.unit.as_deref(), Some(*unit), "{name}: no # UNIT line");
            }
            None => assert_eq!(f.unit, None, "{name}: a # UNIT its name does not end with"),
        }
    }
}

#[test]
fn every_sample_belongs_to_a_declared_family_and_labels_only_split_it() {
    let text = rendered();
    let families = declared(&text);
    let samples = samples(&text);
    for name in families.keys() {
        assert!(
            samples.iter().any(|(s, _)| s.starts_with(name.as_str())),
            "{name}: declared without a sample"
        );
    }
    for (sample, labels) in &samples {
        let family = families.iter().find(|(name, f)| {
            let suffixes: &[&str] = match f.kind.as_deref() {
                Some("counter") => &["_total"],
                Some("histogram") => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            suffixes.iter().any(|s| *sample == format!("{name}{s}"))
        });
        let (name, _) = family.unwrap_or_else(|| panic!("{sample}: no family declares it"));
        // A label splits one quantity (by stage, by status, a histogram's
        // bucket); a label that names the quantity (`source="process_rss"`)
        // would mix several in one family.
        for l in labels {
            assert!(
                ["stage", "status", "le"].contains(&l.as_str()),
                "{name}: label {l}"
            );
        }
    }
}

#[test]
fn memory_figures_and_pool_counts_are_families_of_their_own() {
    let text = rendered();
    for line in [
        "process_resident_memory_bytes 7",
        "report_server_memory_high_water_bytes 8",
        "jemalloc_allocated_bytes 1",
        "jemalloc_resident_bytes 3",
        "jemalloc_metadata_bytes 6",
        "report_server_modelled_runtime_bytes 9",
        "report_server_uncollected_bytes 10",
        "report_server_db_connections_open 3",
        "report_server_db_connections_idle 1",
        "report_server_db_connections_open_peak 4",
        "report_server_jobs_in_flight{stage=\"pdf\"} 1",
        "report_server_stage_high_water_bytes{stage=\"pdf\"} 52428800",
        "report_server_jobs_finished_total{status=\"completed\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}

#[test]
fn in_the_text_format_every_sample_is_named_by_its_help_and_type_lines() {
    // What promtool's "no help text" check asks of the text format: the
    // HELP and TYPE lines name each sample's family exactly (a counter with
    // its `_total`).
    let text = to_text_format(&rendered());
    let families = declared(&text);
    for (sample, _) in samples(&text) {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                let base = sample.strip_suffix(s)?;
                (families.get(base)?.kind.as_deref() == Some("histogram")).then_some(base)
            })
            .unwrap_or(&sample);
        let f = families
            .get(family)
            .unwrap_or_else(|| panic!("{sample}: no HELP/TYPE in:\n{text}"));
        assert!(f.help.is_some() && f.kind.is_some(), "{sample}");
    }
    assert!(!text.contains("# UNIT") && !text.contains("# EOF"));
}
