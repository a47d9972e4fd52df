//! The memory trend over a run's job cycles and the leak verdict: a robust
//! slope (Theil-Sen) with its rank-based 95% confidence interval, the
//! warm-up left out, and the rules that say `returns`, `plateaus` or
//! `grows`.
//!
//! A leaf module: numbers in, verdict out, no I/O, so every rule is tested
//! on synthetic series. Which sample each job cycle contributes, and the
//! section of `run.json` built from it, are the report's
//! (`report::leak`).
//!
//! # The rules
//! - The first [`WARMUP_SHARE`] of the cycle points (at least one) are a
//!   warm-up: lazily built caches, pools and allocator arenas grow there
//!   once. They are left out of the fit.
//! - The slope per job is the Theil-Sen estimator over the remaining
//!   points: the median of the slopes between every pair, so one outlier
//!   (a cycle sampled while a collection runs) cannot move it. Its 95%
//!   interval is Sen's (1968) rank-based one (the Mann-Kendall variance,
//!   no correction for ties). The slope per hour is the same fit against
//!   the points' times.
//! - `grows`: the interval's lower end is above zero (the slope is
//!   significantly positive) *and* the fitted rise over the fitted cycles
//!   is more than the tolerance, so that a statistically clear but
//!   immaterial drift of a few kB per job is not called a leak.
//! - otherwise `returns` when the end level (after the settle step, or the
//!   last cycles without one) is within the tolerance of the reference
//!   level (the target idle before the load), and `plateaus` when it stays
//!   above: memory retained (a collector that has not run, an allocator
//!   that keeps its pages), not growing.
//! - The tolerance is [`TOLERANCE_FLOOR_BYTES`] or [`TOLERANCE_SHARE`] of
//!   the reference level, whichever is larger.

use serde::{Deserialize, Serialize};

/// Cycles (completed jobs) a run needs for a trend.
pub const MIN_JOBS: usize = 5;
/// Share of the cycle points treated as warm-up (rounded down, at least 1).
pub const WARMUP_SHARE: f64 = 0.2;
/// Smallest tolerance, bytes (16 MiB). A server's first jobs leave some
/// memory for good (worker thread stacks and allocator arenas, a database
/// page cache, a runtime's imports): measured 13.4 MiB of anonymous RSS
/// for the reference server's `lean` profile over a debug `soak` (jemalloc's
/// live bytes back within 0.7 MiB); the floor keeps that warm-up from
/// reading as retention, and is well under what one job of photos retains
/// (38 MiB for three 1600x1200 photos at 7 bytes a pixel).
pub const TOLERANCE_FLOOR_BYTES: u64 = 16 << 20;
/// Tolerance as a share of the reference level.
pub const TOLERANCE_SHARE: f64 = 0.10;
/// The two-sided 95% normal quantile.
const Z_95: f64 = 1.959_964;

/// A Theil-Sen slope and its 95% rank-based confidence interval, in bytes
/// per unit of x (`low`/`high` `None` when too few points bound it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Slope {
    /// The Theil-Sen estimate: the median of the pairwise slopes.
    pub estimate: f64,
    /// Lower end of the 95% interval; `None` when there are too few
    /// points to bound it (then the slope is never significant).
    pub low: Option<f64>,
    /// Upper end of the 95% interval; `None` as `low`.
    pub high: Option<f64>,
}

impl Slope {
    /// Whether the slope is significantly above zero (the interval's lower
    /// end is).
    pub fn significantly_positive(&self) -> bool {
        self.low.is_some_and(|l| l > 0.0)
    }
}

/// The Theil-Sen slope of `ys` against `xs`, with Sen's rank-based 95%
/// interval. Pairs with equal x are skipped. `None` with fewer than two
/// distinct x values, or when the lengths differ.
pub fn theil_sen(xs: &[f64], ys: &[f64]) -> Option<Slope> {
    if xs.len() != ys.len() {
        return None;
    }
    let n = xs.len();
    let mut slopes = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = xs[j] - xs[i];
            if dx != 0.0 && dx.is_finite() && ys[i].is_finite() && ys[j].is_finite() {
                slopes.push((ys[j] - ys[i]) / dx);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    let count = slopes.len();
    let estimate = if count % 2 == 1 {
        slopes[count / 2]
    } else {
        (slopes[count / 2 - 1] + slopes[count / 2]) / 2.0
    };
    // Sen (1968): with C = z * sqrt(Var S), Var S = n(n-1)(2n+5)/18, the
    // interval runs from the M1-th to the (M2+1)-th ordered slope
    // (1-based), M1 = (N - C)/2, M2 = (N + C)/2.
    let nf = n as f64;
    let c = Z_95 * (nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0).sqrt();
    let m1 = ((count as f64 - c) / 2.0).round();
    let m2 = ((count as f64 + c) / 2.0).round() + 1.0;
    let (low, high) = if m1 >= 1.0 && m2 <= count as f64 {
        (Some(slopes[m1 as usize - 1]), Some(slopes[m2 as usize - 1]))
    } else {
        (None, None)
    };
    Some(Slope {
        estimate,
        low,
        high,
    })
}

/// What memory does over the job cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakVerdict {
    /// Back within the tolerance of the level before the load.
    Returns,
    /// Settles above it and does not grow: retained, not leaking.
    Plateaus,
    /// The slope is significantly above zero and material: a leak, or an
    /// allocator that keeps more every cycle.
    Grows,
}

impl LeakVerdict {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            LeakVerdict::Returns => "returns",
            LeakVerdict::Plateaus => "plateaus",
            LeakVerdict::Grows => "grows",
        }
    }
}

/// One job cycle's reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CyclePoint {
    /// When it was taken, seconds.
    pub at_s: f64,
    /// The figure (RSS, or the allocator's live bytes), bytes.
    pub bytes: u64,
}

/// The levels a series is judged against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Where memory was before the load (the idle target), bytes.
    pub reference: u64,
    /// Where it ended: after the settle step, or the last cycles' level.
    pub end: u64,
    /// The memory limit, for the projection, bytes.
    pub limit: u64,
}

/// A series judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Cycle points left out as warm-up.
    pub warmup: usize,
    /// Cycle points fitted.
    pub fitted: usize,
    /// Slope per job, bytes.
    pub per_job: Slope,
    /// Slope per hour, bytes; `None` when the fitted points share one time.
    pub per_hour: Option<Slope>,
    /// The tolerance of the verdict, bytes.
    pub tolerance: u64,
    /// The verdict.
    pub verdict: LeakVerdict,
    /// For `grows`: jobs until the limit at this slope, from the end level.
    pub jobs_to_limit: Option<f64>,
    /// For `grows`: hours until the limit at the hourly slope.
    pub hours_to_limit: Option<f64>,
}

/// Cycle points left out as warm-up of `n`.
pub fn warmup_of(n: usize) -> usize {
    ((n as f64 * WARMUP_SHARE).floor() as usize).max(1)
}

/// The tolerance for a reference level, bytes.
pub fn tolerance_for(reference: u64) -> u64 {
    TOLERANCE_FLOOR_BYTES.max((reference as f64 * TOLERANCE_SHARE) as u64)
}

/// The median of the last (up to) three points, bytes: the end level when
/// no settle step ran.
pub fn last_cycles_level(points: &[CyclePoint]) -> Option<u64> {
    let mut last: Vec<u64> = points.iter().rev().take(3).map(|p| p.bytes).collect();
    last.sort_unstable();
    last.get(last.len() / 2).copied()
}

/// Judges one series of cycle points (in job order). `None` with fewer
/// than [`MIN_JOBS`] points.
pub fn assess(points: &[CyclePoint], levels: Levels) -> Option<Assessment> {
    if points.len() < MIN_JOBS {
        return None;
    }
    let warmup = warmup_of(points.len());
    let fitted = &points[warmup..];
    let ys: Vec<f64> = fitted.iter().map(|p| p.bytes as f64).collect();
    let jobs: Vec<f64> = (0..fitted.len()).map(|i| i as f64).collect();
    let hours: Vec<f64> = fitted.iter().map(|p| p.at_s / 3600.0).collect();
    let per_job = theil_sen(&jobs, &ys)?;
    let per_hour = theil_sen(&hours, &ys);
    let tolerance = tolerance_for(levels.reference);
    let rise = per_job.estimate * (fitted.len() - 1) as f64;
    let verdict = if per_job.significantly_positive() && rise > tolerance as f64 {
        LeakVerdict::Grows
    } else if levels.end <= levels.reference.saturating_add(tolerance) {
        LeakVerdict::Returns
    } else {
        LeakVerdict::Plateaus
    };
    let left = levels.limit.saturating_sub(levels.end) as f64;
    let until = |s: Option<f64>| {
        s.filter(|s| *s > 0.0 && verdict == LeakVerdict::Grows)
            .map(|s| left / s)
    };
    Some(Assessment {
        warmup,
        fitted: fitted.len(),
        per_job,
        per_hour,
        tolerance,
        verdict,
        jobs_to_limit: until(Some(per_job.estimate)),
        hours_to_limit: until(per_hour.map(|s| s.estimate)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    /// `n` cycles 20 s apart, `f(i)` MiB each.
    fn series(n: usize, f: impl Fn(usize) -> f64) -> Vec<CyclePoint> {
        (0..n)
            .map(|i| CyclePoint {
                at_s: 10.0 + 20.0 * i as f64,
                bytes: (f(i) * MIB) as u64,
            })
            .collect()
    }

    /// A fixed pseudo-random wobble in [-1, 1] (no RNG crate, no flakes).
    fn wobble(i: usize) -> f64 {
        let x = (i as u64).wrapping_mul(2654435761).wrapping_add(97) % 1000;
        x as f64 / 500.0 - 1.0
    }

    fn levels(reference_mib: f64, end_mib: f64) -> Levels {
        Levels {
            reference: (reference_mib * MIB) as u64,
            end: (end_mib * MIB) as u64,
            limit: 512 << 20,
        }
    }

    #[test]
    fn theil_sen_finds_the_slope_of_a_line_and_bounds_it_tightly() {
        let xs: Vec<f64> = (0..20).map(f64::from).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 3.0 * x + 7.0).collect();
        let s = theil_sen(&xs, &ys).unwrap();
        assert_eq!(s.estimate, 3.0);
        assert_eq!((s.low, s.high), (Some(3.0), Some(3.0)));
        assert!(s.significantly_positive());
    }

    #[test]
    fn one_wild_point_does_not_move_the_theil_sen_slope() {
        let xs: Vec<f64> = (0..15).map(f64::from).collect();
        let mut ys: Vec<f64> = xs.iter().map(|x| 100.0 + 0.0 * x).collect();
        ys[7] = 10_000.0;
        let s = theil_sen(&xs, &ys).unwrap();
        assert_eq!(s.estimate, 0.0);
        assert!(!s.significantly_positive(), "{s:?}");
    }

    #[test]
    fn too_few_points_give_no_interval_and_no_significance() {
        // n = 4: N = 6 slopes, C = 5.77, M1 rounds to 0: no interval.
        let s = theil_sen(&[0.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(s.estimate, 1.0);
        assert_eq!(s.low, None);
        assert!(!s.significantly_positive());
        assert_eq!(theil_sen(&[1.0, 1.0], &[1.0, 2.0]), None, "one distinct x");
        assert_eq!(theil_sen(&[1.0], &[1.0, 2.0]), None, "lengths differ");
    }

    #[test]
    fn the_interval_contains_the_estimate_and_widens_with_noise() {
        let xs: Vec<f64> = (0..30).map(f64::from).collect();
        let quiet: Vec<f64> = xs
            .iter()
            .map(|x| 2.0 * x + 0.1 * wobble(*x as usize))
            .collect();
        let noisy: Vec<f64> = xs
            .iter()
            .map(|x| 2.0 * x + 20.0 * wobble(*x as usize))
            .collect();
        let q = theil_sen(&xs, &quiet).unwrap();
        let n = theil_sen(&xs, &noisy).unwrap();
        for s in [q, n] {
            assert!(s.low.unwrap() <= s.estimate && s.estimate <= s.high.unwrap());
        }
        let width = |s: Slope| s.high.unwrap() - s.low.unwrap();
        assert!(width(n) > 10.0 * width(q), "{q:?} {n:?}");
    }

    #[test]
    fn a_steady_climb_grows_with_its_slope_and_a_projection() {
        // 40 jobs, 4 MiB each on top of 100 MiB, +-1 MiB of noise.
        let pts = series(40, |i| 100.0 + 4.0 * i as f64 + wobble(i));
        let a = assess(&pts, levels(90.0, 260.0)).unwrap();
        assert_eq!(a.verdict, LeakVerdict::Grows);
        assert_eq!((a.warmup, a.fitted), (8, 32));
        let per_job = a.per_job.estimate / MIB;
        assert!((per_job - 4.0).abs() < 0.2, "{per_job}");
        // 20 s per job: 180 jobs an hour.
        let per_hour = a.per_hour.unwrap().estimate / MIB;
        assert!((per_hour - 720.0).abs() < 40.0, "{per_hour}");
        // (512 - 260) MiB left at 4 MiB a job.
        let jobs = a.jobs_to_limit.unwrap();
        assert!((jobs - 63.0).abs() < 4.0, "{jobs}");
        let hours = a.hours_to_limit.unwrap();
        assert!((hours - 0.35).abs() < 0.03, "{hours}");
    }

    #[test]
    fn memory_that_comes_back_after_the_settle_returns() {
        // Each cycle sampled with the allocator's dirty pages still there
        // (~40 MiB), back near idle (15 MiB) after the settle.
        let pts = series(30, |i| 40.0 + 2.0 * wobble(i));
        let a = assess(&pts, levels(15.0, 27.0)).unwrap();
        assert_eq!(a.verdict, LeakVerdict::Returns);
        assert!(!a.per_job.significantly_positive(), "{:?}", a.per_job);
        assert_eq!((a.jobs_to_limit, a.hours_to_limit), (None, None));
    }

    #[test]
    fn memory_held_at_a_level_after_the_warm_up_plateaus() {
        // A warm-up climb to a level held by a collector that has not run:
        // flat after the warm-up, and still held after the settle.
        let pts = series(30, |i| {
            if i < 3 {
                165.0 + 30.0 * i as f64
            } else {
                255.0 + 3.0 * wobble(i)
            }
        });
        let a = assess(&pts, levels(165.0, 250.0)).unwrap();
        assert_eq!(a.verdict, LeakVerdict::Plateaus);
        assert_eq!(a.jobs_to_limit, None);
    }

    #[test]
    fn a_significant_but_immaterial_drift_is_not_called_a_leak() {
        // 10 kB a job over 20 fitted jobs: 200 kB, far under 16 MiB.
        let pts = series(25, |i| 50.0 + 0.01 * i as f64);
        let a = assess(&pts, levels(48.0, 50.2)).unwrap();
        assert!(a.per_job.significantly_positive());
        assert_eq!(a.verdict, LeakVerdict::Returns);
    }

    #[test]
    fn fewer_than_five_jobs_give_no_trend() {
        let pts = series(4, |i| 10.0 * i as f64);
        assert_eq!(assess(&pts, levels(0.0, 40.0)), None);
        assert!(assess(&series(5, |_| 10.0), levels(10.0, 10.0)).is_some());
    }

    #[test]
    fn the_tolerance_is_a_floor_or_a_share_of_the_reference() {
        assert_eq!(tolerance_for(15 << 20), 16 << 20);
        assert_eq!(tolerance_for(300 << 20), 30 << 20);
        assert_eq!(warmup_of(5), 1);
        assert_eq!(warmup_of(60), 12);
        let pts = series(5, |i| [9.0, 3.0, 5.0, 4.0, 7.0][i]);
        assert_eq!(last_cycles_level(&pts), Some(5 << 20));
    }
}
