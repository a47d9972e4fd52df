//! The hosting plans data file (`plans/render.toml`): plans with their RAM,
//! CPU share and price, and the date the figures were taken.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// A plans data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlansFile {
    /// Who sells them, e.g. `Render`.
    pub provider: String,
    /// When the figures were taken, `YYYY-MM-DD`.
    pub taken: String,
    /// Where they were taken from.
    #[serde(default)]
    pub source: Option<String>,
    /// The plans.
    pub plan: Vec<RawPlan>,
    /// Background worker plans, for `plan --split`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub worker: Vec<RawPlan>,
    /// Key Value (Redis) plans, for `plan --split`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_value: Vec<RawKeyValue>,
}

/// A Key Value (Redis) plan as written in the file: sold by memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyValue {
    /// Its name.
    pub name: String,
    /// Its memory, e.g. `256MB` (read as MiB).
    pub ram: String,
    /// Its price, USD per month.
    pub usd_per_month: f64,
    /// Anything a buyer should know.
    #[serde(default)]
    pub note: Option<String>,
}

/// A plan as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Its name.
    pub name: String,
    /// Its RAM, e.g. `512MB` (read as MiB).
    pub ram: String,
    /// Its CPU share.
    pub cpu: f64,
    /// Its price, USD per month.
    pub usd_per_month: f64,
    /// Anything a buyer should know.
    #[serde(default)]
    pub note: Option<String>,
}

/// A checked plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostingPlan {
    /// Its name.
    pub name: String,
    /// Its RAM, bytes.
    pub ram_bytes: u64,
    /// Its CPU share (cores).
    pub cpu: f64,
    /// Price, USD per month.
    pub usd_per_month: f64,
    /// Anything a buyer should know.
    pub note: Option<String>,
}

/// Reads and checks a plans file; every mistake names the file, key and fix.
pub fn load_plans(path: &Path) -> Result<(PlansFile, Vec<HostingPlan>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: PlansFile = toml::from_str(&text).map_err(|e| ConfigError::toml(path, e))?;
    if chrono::NaiveDate::parse_from_str(&file.taken, "%Y-%m-%d").is_err() {
        return Err(ConfigError::invalid(
            path,
            "taken",
            format!("`{}` is not a date", file.taken),
            "taken = \"2026-11-28\"",
        ));
    }
    if file.plan.is_empty() {
        return Err(ConfigError::invalid(
            path,
            "plan",
            "no plans",
            "add [[plan]] tables with name, ram, cpu, usd_per_month",
        ));
    }
    let plans = check_plans(path, "plan", &file.plan)?;
    Ok((file, plans))
}

/// Checks the plans of one table (`plan`, `worker`); cheapest first.
pub fn check_plans(
    path: &Path,
    table: &str,
    raws: &[RawPlan],
) -> Result<Vec<HostingPlan>, ConfigError> {
    let mut plans = Vec::new();
    for (i, p) in raws.iter().enumerate() {
        let key = |k: &str| format!("{table}[{i}].{k} ({})", p.name);
        let ram = memstats::parse_bytes(&p.ram)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| {
                ConfigError::invalid(
                    path,
                    key("ram"),
                    format!("`{}` is not a size", p.ram),
                    "ram = \"512MB\"",
                )
            })?;
        if !(p.cpu > 0.0 && p.cpu.is_finite()) {
            return Err(ConfigError::invalid(
                path,
                key("cpu"),
                "must be a positive share of a core",
                "cpu = 0.5",
            ));
        }
        if !(p.usd_per_month >= 0.0 && p.usd_per_month.is_finite()) {
            return Err(ConfigError::invalid(
                path,
                key("usd_per_month"),
                "must be 0 or more",
                "usd_per_month = 7",
            ));
        }
        plans.push(HostingPlan {
            name: p.name.clone(),
            ram_bytes: ram,
            cpu: p.cpu,
            usd_per_month: p.usd_per_month,
            note: p.note.clone(),
        });
    }
    // Cheapest first; at one price, the most RAM, then the most CPU.
    plans.sort_by(|a, b| {
        a.usd_per_month
            .total_cmp(&b.usd_per_month)
            .then(b.ram_bytes.cmp(&a.ram_bytes))
            .then(b.cpu.total_cmp(&a.cpu))
    });
    Ok(plans)
}

/// Checks the `[[key_value]]` plans; cheapest first, `cpu` 0 (not sold by
/// CPU).
pub fn check_key_value(path: &Path, raws: &[RawKeyValue]) -> Result<Vec<HostingPlan>, ConfigError> {
    let as_plans: Vec<RawPlan> = raws
        .iter()
        .map(|k| RawPlan {
            name: k.name.clone(),
            ram: k.ram.clone(),
            cpu: 1.0,
            usd_per_month: k.usd_per_month,
            note: k.note.clone(),
        })
        .collect();
    let mut plans = check_plans(path, "key_value", &as_plans)?;
    for p in &mut plans {
        p.cpu = 0.0;
    }
    Ok(plans)
}
