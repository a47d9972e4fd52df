//! Injected faults: settings (TOML or code) and the per-request decision.
//!
//! Every rule whose `path` regex matches a request applies: latencies add
//! up, the lowest bandwidth wins, and each rule draws its shares in the
//! order hang, error, truncate (the first that fires wins). Draws come from
//! a generator seeded with the fake's seed, the rule's index and how many
//! requests that rule has seen, so a given sequence of requests meets the
//! same faults on every run.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};
use regex::Regex;
use serde::Deserialize;

use crate::error::ConfigError;

/// All fault rules. TOML: a list of `[[rule]]` tables.
///
/// ```toml
/// [[rule]]
/// path = "/image/upload/.*camera"   # regex on the request path; default: every path
/// methods = ["GET"]                  # default: every method
/// latency_ms = 200
/// jitter_ms = 100
/// bandwidth_bytes_per_sec = 2000000
/// error_share = 0.05
/// error_status = 503
/// hang_share = 0.01
/// truncate_share = 0.02
/// truncate_at = 0.5
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// The rules, in order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<FaultRule>,
}

/// One rule: which requests, and what happens to them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Regex matched (unanchored) against the request path. Default `.*`.
    #[serde(default = "any_path")]
    pub path: String,
    /// Methods the rule applies to (upper case); empty for all.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Fixed delay before answering, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Extra uniform random delay in `0..=jitter_ms`, milliseconds.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Cap on response body bytes per second.
    #[serde(default)]
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Share (0..=1) of requests answered with `error_status`.
    #[serde(default)]
    pub error_share: f64,
    /// Status of injected errors (500..=599). Default 503.
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Share of requests that never get an answer (held until the client
    /// gives up or the fake stops).
    #[serde(default)]
    pub hang_share: f64,
    /// Share of responses whose body is cut short: the full Content-Length
    /// is declared, `truncate_at` of it is sent, then the connection closes.
    #[serde(default)]
    pub truncate_share: f64,
    /// Share (0..1) of the body sent before a truncation. Default 0.5.
    #[serde(default = "default_truncate_at")]
    pub truncate_at: f64,
}

fn any_path() -> String {
    ".*".into()
}
fn default_error_status() -> u16 {
    503
}
fn default_truncate_at() -> f64 {
    0.5
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule {
            path: any_path(),
            methods: Vec::new(),
            latency_ms: 0,
            jitter_ms: 0,
            bandwidth_bytes_per_sec: None,
            error_share: 0.0,
            error_status: default_error_status(),
            hang_share: 0.0,
            truncate_share: 0.0,
            truncate_at: default_truncate_at(),
        }
    }
}

impl FaultRule {
    /// A rule for paths matching `pattern` that does nothing yet.
    pub fn for_path(pattern: impl Into<String>) -> Self {
        FaultRule {
            path: pattern.into(),
            ..Default::default()
        }
    }

    /// Fixed latency plus uniform jitter.
    pub fn latency(mut self, fixed: Duration, jitter: Duration) -> Self {
        self.latency_ms = fixed.as_millis() as u64;
        self.jitter_ms = jitter.as_millis() as u64;
        self
    }

    /// Cap response bodies at `bytes_per_sec`.
    pub fn bandwidth(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth_bytes_per_sec = Some(bytes_per_sec);
        self
    }

    /// Answer `share` of requests with `status`.
    pub fn errors(mut self, share: f64, status: u16) -> Self {
        self.error_share = share;
        self.error_status = status;
        self
    }

    /// Never answer `share` of requests.
    pub fn hangs(mut self, share: f64) -> Self {
        self.hang_share = share;
        self
    }

    /// Cut `share` of bodies after `at` (0..1) of their length.
    pub fn truncates(mut self, share: f64, at: f64) -> Self {
        self.truncate_share = share;
        self.truncate_at = at;
        self
    }

    /// Only for these methods.
    pub fn methods(mut self, methods: &[&str]) -> Self {
        self.methods = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        self
    }

    /// True when the rule changes nothing.
    pub fn is_noop(&self) -> bool {
        self.latency_ms == 0
            && self.jitter_ms == 0
            && self.bandwidth_bytes_per_sec.is_none()
            && self.error_share == 0.0
            && self.hang_share == 0.0
            && self.truncate_share == 0.0
    }
}

impl FaultConfig {
    /// Parse TOML; unknown keys are errors.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config: FaultConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Read and parse a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Add a rule.
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Check ranges and patterns.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for rule in &self.rules {
            Regex::new(&rule.path).map_err(|source| ConfigError::Pattern {
                pattern: rule.path.clone(),
                source,
            })?;
            for (name, share) in [
                ("error_share", rule.error_share),
                ("hang_share", rule.hang_share),
                ("truncate_share", rule.truncate_share),
                ("truncate_at", rule.truncate_at),
            ] {
                if !(0.0..=1.0).contains(&share) {
                    return Err(ConfigError::Invalid(format!(
                        "{name} = {share} is outside 0..=1"
                    )));
                }
            }
            if !(500..=599).contains(&rule.error_status) {
                return Err(ConfigError::Invalid(format!(
                    "error_status = {} is not a 5xx",
                    rule.error_status
                )));
            }
            if rule.bandwidth_bytes_per_sec == Some(0) {
                return Err(ConfigError::Invalid(
                    "bandwidth_bytes_per_sec must be above 0".into(),
                ));
            }
        }
        Ok(())
    }
}

/// What happens to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Wait this long first.
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
    /// Answer with this status instead.
    pub error_status: Option<u16>,
    /// Send only this share of the body, then close.
    pub truncate_at: Option<f64>,
    /// Cap the body at this many bytes per second.
    pub bandwidth: Option<u64>,
}

struct CompiledRule {
    rule: FaultRule,
    pattern: Regex,
    seen: AtomicU64,
}

/// Compiled rules plus the seed; decides faults per request.
pub struct Faults {
    seed: u64,
    rules: Vec<CompiledRule>,
}

impl Faults {
    /// Compile `config` (validating it).
    pub fn new(config: &FaultConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let rules = config
            .rules
            .iter()
            .filter(|r| !r.is_noop())
            .map(|rule| {
                Ok(CompiledRule {
                    pattern: Regex::new(&rule.path).map_err(|source| ConfigError::Pattern {
                        pattern: rule.path.clone(),
                        source,
                    })?,
                    rule: rule.clone(),
                    seen: AtomicU64::new(0),
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Faults { seed, rules })
    }

    /// Decide the faults of one request.
    pub fn decide(&self, method: &str, path: &str) -> Decision {
        let mut decision = Decision::default();
        for (index, compiled) in self.rules.iter().enumerate() {
            let rule = &compiled.rule;
            let method_ok = rule.methods.is_empty() || rule.methods.iter().any(|m| m == method);
            if !method_ok || !compiled.pattern.is_match(path) {
                continue;
            }
            let nth = compiled.seen.fetch_add(1, Ordering::Relaxed);
            let mut rng = SmallRng::seed_from_u64(mix(self.seed, index as u64, nth));
            let jitter = if rule.jitter_ms > 0 {
                rng.random_range(0..=rule.jitter_ms)
            } else {
                0
            };
            decision.delay += Duration::from_millis(rule.latency_ms + jitter);
            if let Some(cap) = rule.bandwidth_bytes_per_sec {
                decision.bandwidth = Some(decision.bandwidth.map_or(cap, |c| c.min(cap)));
            }
            let (hang, error, truncate) = (
                rng.random::<f64>(),
                rng.random::<f64>(),
                rng.random::<f64>(),
            );
            if decision.hang || decision.error_status.is_some() {
                continue;
            }
            if hang < rule.hang_share {
                decision.hang = true;
            } else if error < rule.error_share {
                decision.error_status = Some(rule.error_status);
            } else if truncate < rule.truncate_share && decision.truncate_at.is_none() {
                decision.truncate_at = Some(rule.truncate_at);
            }
        }
        decision
    }
}

/// SplitMix64-style mixing of seed, rule and request number.
fn mix(seed: u64, rule: u64, nth: u64) -> u64 {
    let mut z =
        seed ^ rule.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ nth.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_parses_and_rejects_unknown_keys() {
        let config =
            FaultConfig::from_toml_str("[[rule]]\npath = \"camera\"\nerror_share = 0.5\n").unwrap();
        assert_eq!(config.rules[0].error_share, 0.5);
        assert_eq!(config.rules[0].error_status, 503);
        assert!(FaultConfig::from_toml_str("[[rule]]\nerror_rate = 0.5\n").is_err());
        assert!(FaultConfig::from_toml_str("[[rule]]\nerror_share = 1.5\n").is_err());
        assert!(FaultConfig::from_toml_str("[[rule]]\npath = \"(\"\n").is_err());
    }

    #[test]
    fn same_seed_gives_same_decisions() {
        let config = FaultConfig::default().rule(
            FaultRule::for_path(".*")
                .errors(0.5, 502)
                .latency(Duration::ZERO, Duration::from_millis(50)),
        );
        let run = |seed| {
            let faults = Faults::new(&config, seed).unwrap();
            (0..64)
                .map(|_| faults.decide("GET", "/x"))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let errors = run(7)
            .iter()
            .filter(|d| d.error_status == Some(502))
            .count();
        assert!((16..=48).contains(&errors), "{errors}");
    }

    #[test]
    fn rules_only_apply_to_matching_paths_and_methods() {
        let config =
            FaultConfig::default().rule(FaultRule::for_path("^/up").methods(&["POST"]).hangs(1.0));
        let faults = Faults::new(&config, 1).unwrap();
        assert!(faults.decide("POST", "/upload").hang);
        assert!(!faults.decide("GET", "/upload").hang);
        assert!(!faults.decide("POST", "/down").hang);
    }
}
