//! `oomlab plan`: the plans file, the recommendation on synthetic
//! measurements, `--from` through the binary, and one real run on `tiny`.

use std::path::Path;

use oomlab::plan::split::{SplitConfig, SplitMeasurement, recommend_split, split_plans};
use oomlab::plan::{self, Config, HostingPlan, Measurement, PlanReport};

use crate::fixtures::{self, MB, oomlab};
use crate::support;

fn config(profile: &str, workers: usize, peak_mb: u64, p95: f64) -> Config {
    Config {
        profile: profile.into(),
        workers: Some(workers),
        cpu: None,
        modelled_runtime_bytes: Some(150 * MB),
        timing: Default::default(),
        measurements: vec![Measurement {
            scenario: "two-reports".into(),
            weight: 1.0,
            peak_bytes: peak_mb * MB,
            idle_rss_bytes: Some(158 * MB),
            time_to_ready_p50_s: Some(p95 - 2.0),
            time_to_ready_p95_s: Some(p95),
            reports_per_minute: Some(3.0),
            all_jobs_completed: true,
            jobs_lost: 0,
            summary: "within the limit".into(),
            dir: format!("runs/{profile}-w{workers}").into(),
        }],
    }
}

#[test]
fn the_shipped_render_plans_load_cheapest_first_with_their_date() {
    let (file, plans) =
        plan::load_plans(Path::new(&crate::support::repo("plans/render.toml"))).unwrap();
    assert_eq!(file.provider, "Render");
    assert_eq!(file.taken, "2026-11-28");
    let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Free",
            "Starter",
            "Standard",
            "Pro",
            "Pro Plus",
            "Pro Max",
            "Pro Ultra"
        ]
    );
    assert_eq!(plans[0].ram_bytes, 512 * MB);
    assert_eq!(plans[2].ram_bytes, 2048 * MB);
    assert_eq!(plans[1].cpu, 0.5);
}

#[test]
fn a_bad_plans_file_names_the_file_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plans.toml");
    std::fs::write(&p, "provider = \"X\"\ntaken = \"2026-11-28\"\n[[plan]]\nname = \"Tiny\"\nram = \"lots\"\ncpu = 1\nusd_per_month = 1\n").unwrap();
    let e = plan::load_plans(&p).unwrap_err().to_string();
    assert!(
        e.contains("plans.toml")
            && e.contains("plan[0].ram (Tiny)")
            && e.contains("ram = \"512MB\""),
        "{e}"
    );
    std::fs::write(&p, "provider = \"X\"\ntaken = \"2026-11-28\"\nprice = 3\n").unwrap();
    let e = plan::load_plans(&p).unwrap_err().to_string();
    assert!(e.contains("price"), "{e}");
}

fn plans() -> Vec<HostingPlan> {
    let p = |name: &str, ram_mb: u64, usd: f64| HostingPlan {
        name: name.into(),
        ram_bytes: ram_mb * MB,
        cpu: 1.0,
        usd_per_month: usd,
        note: None,
    };
    vec![
        p("Free", 512, 0.0),
        p("Standard", 2048, 25.0),
        p("Pro", 4096, 85.0),
    ]
}

#[test]
fn the_cheapest_plan_that_holds_with_headroom_is_recommended_with_the_fastest_config() {
    let configs = vec![
        config("original", 2, 1100, 20.0),
        config("quick-fix", 1, 480, 30.0), // under 512 MB, but inside 10% headroom
        config("lean", 1, 60, 12.0),
        config("lean", 2, 90, 9.0),
    ];
    let (verdicts, rec) = plan::recommend(&configs, &plans(), 0.10, 1);
    let rec = rec.unwrap();
    assert_eq!(rec.plan, "Free");
    assert_eq!(
        rec.config, "lean, 2 workers",
        "fastest p95 among those that hold"
    );
    assert_eq!(verdicts[0].holding, ["lean, 2 workers", "lean, 1 worker"]);
    // On 2 GB every configuration holds, the original's 2 workers included.
    assert_eq!(verdicts[1].holding.len(), 4);
    assert_eq!(verdicts[1].best.as_deref(), Some("lean, 2 workers"));
}

#[test]
fn when_no_cheap_plan_holds_the_first_that_does_is_recommended_and_incomplete_runs_never_hold() {
    let mut broken = config("lean", 1, 60, 12.0);
    broken.measurements[0].all_jobs_completed = false;
    let configs = vec![config("original", 2, 1100, 20.0), broken];
    let (verdicts, rec) = plan::recommend(&configs, &plans(), 0.10, 1);
    assert_eq!(rec.unwrap().plan, "Standard");
    assert_eq!(verdicts[0].best, None);
    assert_eq!(verdicts[0].lowest_peak_bytes, Some(1100 * MB));
    // No plan at all: nothing recommended.
    let (_, rec) = plan::recommend(&[config("x", 1, 9000, 1.0)], &plans(), 0.10, 1);
    assert!(rec.is_none());
}

#[test]
fn a_bad_weight_is_refused_naming_the_flag() {
    let (code, _, err) = oomlab(&["plan", "--scenario", "two-reports:x"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--scenario") && err.contains("two-reports:2"),
        "{err}"
    );
}

/// A two-reports run of `profile` as plan measures: no limit but the
/// largest plan's RAM (32 GB).
fn as_plan_measures(profile: &Path, peak_mb: u64, ready_s: f64) -> oomlab::report::RunReport {
    fixtures::run_limited(
        profile,
        "two-reports",
        peak_mb,
        2,
        ready_s,
        32 * 1024,
        oomlab::watchdog::Enforce::Off,
    )
}

/// `oomlab plan --scenario two-reports --from FROM --out OUT`.
fn plan_from(from: &Path, out: &Path) -> (i32, String, String) {
    oomlab(
        &[
            "plan",
            "--scenario",
            "two-reports",
            "--from",
            from.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    )
}

#[test]
fn plan_from_finished_runs_recommends_and_pins_its_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("plan-old/runs");
    for (p, w, peak) in [
        ("original", 2, 600),
        ("quick-fix", 1, 430),
        ("lean", 1, 48),
        ("lean", 2, 70),
    ] {
        let profile =
            fixtures::profile_with_workers(&dir.path().join(format!("inputs/w{w}")), p, w);
        let r = as_plan_measures(&profile, peak, 10.0 + w as f64);
        fixtures::write(&runs, &format!("{p}-w{w}"), &r);
    }
    let out = dir.path().join("out");
    let (code, stdout, err) = plan_from(&dir.path().join("plan-old"), &out);
    assert_eq!(code, 0, "{stdout}\n{err}");
    support::assert_fits_100_columns(&stdout);
    assert!(
        stdout.contains("Recommendation: Free (USD 0/month, 512.0 MiB RAM) with lean, 1 worker:"),
        "{stdout}"
    );
    assert!(
        support::flat(&stdout).contains("CPU was not limited"),
        "{stdout}"
    );
    let made = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    support::assert_valid_plan_json(&support::read_json(&made, "plan.json"));
    let mut report: PlanReport =
        serde_json::from_str(&std::fs::read_to_string(made.join("plan.json")).unwrap()).unwrap();
    report.created_at = "2026-11-28T12:00:00Z".into();
    report.plans_file = "plans/render.toml".into();
    for c in &mut report.configs {
        for m in &mut c.measurements {
            m.dir = m.dir.strip_prefix(dir.path()).unwrap().to_path_buf();
        }
    }
    report
        .notes
        .retain(|n| !n.contains("cores of this machine"));
    insta::assert_snapshot!("plan_markdown", plan::markdown(&report));
    insta::assert_json_snapshot!("plan_json", report);
}

#[test]
fn plan_never_recommends_from_a_load_that_failed_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("plan-old/runs");
    for (p, w, peak, failed) in [("lean", 1, 48, true), ("quick-fix", 1, 430, false)] {
        let profile =
            fixtures::profile_with_workers(&dir.path().join(format!("inputs/w{w}")), p, w);
        let r = as_plan_measures(&profile, peak, 10.0);
        let r = if failed { fixtures::load_failed(r) } else { r };
        fixtures::write(&runs, &format!("{p}-w{w}"), &r);
    }
    let out = dir.path().join("out");
    let (code, stdout, err) = plan_from(&dir.path().join("plan-old"), &out);
    assert_eq!(code, 0, "{stdout}\n{err}");
    // lean's 48 MB would be the cheapest, but its load did no work.
    support::assert_fits_100_columns(&stdout);
    assert!(
        stdout.contains("Recommendation: Free (USD 0/month, 512.0 MiB RAM) with quick-fix"),
        "{stdout}"
    );
    // The terminal cuts a long cell; plan.md has it whole.
    assert!(stdout.contains("incomplete: the l"), "{stdout}");
    let made = crate::support::only_run_dir(&out);
    let md = std::fs::read_to_string(made.join("plan.md")).unwrap();
    assert!(
        md.contains("incomplete: the load failed: upload photo answered 404"),
        "{md}"
    );
    support::assert_valid_plan_json(&support::read_json(&made, "plan.json"));
}

#[test]
fn a_missing_plans_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = oomlab(
        &[
            "plan",
            "--scenario",
            "tiny",
            "--plans",
            "nope.toml",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nope.toml"), "{err}");
}

/// The real thing on the smallest scenario: one profile, one worker count,
/// one run per distinct CPU share, each plan judged at its share.
#[test]
fn real_plan_on_tiny_runs_once_per_cpu_share_and_recommends_the_free_plan_for_lean() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, err) = oomlab(
        &[
            "plan",
            "--scenario",
            "tiny",
            "--profile",
            "lean",
            "--workers",
            "1",
            "--quiet",
            "--out",
            dir.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stdout}\n{err}");
    support::assert_fits_100_columns(&stdout);
    assert!(stdout.contains("Recommendation: Free"), "{stdout}");
    let flat = support::flat(&stdout);
    // One run per distinct CPU share (0.1, 0.5, 1, and unlimited for 2 and
    // more on this 2-core machine), or one unlimited run where no CPU cgroup
    // can be made.
    let runs = if flat.contains("CPU was limited per plan") {
        4
    } else {
        assert!(flat.contains("CPU was not limited"), "{stdout}");
        1
    };
    assert!(stdout.contains(&format!("{runs} runs in")), "{stdout}");
    let made = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    support::assert_valid_plan_json(&support::read_json(&made, "plan.json"));
    let report: PlanReport =
        serde_json::from_str(&std::fs::read_to_string(made.join("plan.json")).unwrap()).unwrap();
    assert_eq!(report.configs.len(), runs);
    assert_eq!(report.verdicts.len(), 7);
    if runs == 4 {
        let free = &report.verdicts[0];
        assert_eq!(free.plan.name, "Free");
        assert_eq!(free.best.as_deref(), Some("lean, 1 worker, 0.1 CPU"));
    }
    assert!(report.configs[0].peak_bytes() > 0);
}

fn split_config(profile: &str, web_mb: u64, worker_mb: u64, completed: bool) -> SplitConfig {
    SplitConfig {
        profile: profile.into(),
        workers: Some(2),
        measurements: vec![SplitMeasurement {
            scenario: "two-reports".into(),
            web_peak_bytes: web_mb * MB,
            worker_peak_bytes: worker_mb * MB,
            redis_peak_bytes: Some(2 * MB),
            all_jobs_completed: completed,
            summary: "worker untouched".into(),
            dir: format!("runs/{profile}-split").into(),
        }],
    }
}

#[test]
fn the_shipped_plans_price_background_workers_and_key_value_cheapest_first() {
    let path = std::path::PathBuf::from(crate::support::repo("plans/render.toml"));
    let (file, _) = plan::load_plans(&path).unwrap();
    let split = split_plans(&path, &file).unwrap();
    let workers: Vec<&str> = split.workers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(workers[0], "Starter", "no free background worker");
    assert_eq!(split.workers[0].ram_bytes, 512 * MB);
    assert_eq!(split.key_value[0].name, "Free");
    assert_eq!(split.key_value[0].ram_bytes, 25 * MB);
    // A plans file without them says which table to add.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plans.toml");
    std::fs::write(
        &p,
        "provider = \"X\"\ntaken = \"2026-11-28\"\n[[plan]]\nname = \"A\"\nram = \"512MB\"\ncpu = 1\nusd_per_month = 1\n",
    )
    .unwrap();
    let (file, _) = plan::load_plans(&p).unwrap();
    let e = split_plans(&p, &file).unwrap_err().to_string();
    assert!(e.contains("plans.toml") && e.contains("[[worker]]"), "{e}");
}

#[test]
fn the_cheapest_triple_that_holds_every_part_with_headroom_is_recommended() {
    let path = std::path::PathBuf::from(crate::support::repo("plans/render.toml"));
    let (file, web_plans) = plan::load_plans(&path).unwrap();
    let split = split_plans(&path, &file).unwrap();
    // A web service of 100 MB fits the Free web plan; a worker of 1200 MB
    // needs Standard (2 GB); 2 MB of Redis fits the Free Key Value.
    let configs = [
        split_config("original", 100, 1200, true),
        // Cheaper worker, but a job did not complete: never recommended.
        split_config("quick-fix", 100, 400, false),
        split_config("lean", 90, 470, true),
    ];
    let rec = recommend_split(&configs, &web_plans, &split, 0.10, 1).unwrap();
    // lean: 470 MB is over 512 MB minus 10%, so Standard too; at one total
    // the lower worker peak wins.
    assert_eq!(rec.config, "lean, 2 workers");
    assert_eq!(
        (
            rec.web.plan.as_str(),
            rec.worker.plan.as_str(),
            rec.key_value.plan.as_str()
        ),
        ("Free", "Standard", "Free")
    );
    assert_eq!(rec.usd_per_month, 25.0);
    let smaller = [split_config("lean", 90, 400, true)];
    let rec = recommend_split(&smaller, &web_plans, &split, 0.10, 1).unwrap();
    assert_eq!(rec.worker.plan, "Starter");
    assert_eq!(rec.usd_per_month, 7.0);
    assert!(
        recommend_split(&configs[1..2], &web_plans, &split, 0.10, 1).is_none(),
        "an incomplete configuration never holds"
    );
}
