//! `[model.cpu]`: the CPU time the modelled app spends per job stage, per
//! photo and per byte, which the server spends too (`jobs::cpu`), so that a
//! job takes as long as the app's on the same machine and slows like it
//! under a CPU share (`--cpus`, a plan's 0.1 or 0.5 CPU).
//!
//! Every figure is CPU time of the thread that runs the job, in
//! milliseconds, measured on the example app
//! (`examples/flask-reportlab/measure/cpu_stages.py`, figures in
//! docs/measurements/cpu-model.md). The server's own work in a stage counts
//! toward it: a stage spends at least what these settings say, never the
//! settings on top of its own work. All zero (the default): the server
//! runs as fast as Rust does.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpuSettings {
    /// Per job, in the `excel` stage: the workbook, the job's database
    /// sessions and progress writes.
    pub job_ms: f64,
    /// Per MB of each photo downloaded (the HTTP client reading it).
    pub download_ms_per_mb: f64,
    /// Per megapixel of each photo drawn into the PDF: the app's full
    /// decode of an in-memory photo to fingerprint it (0 where the app
    /// does not decode, e.g. photos handed over as file paths).
    pub decode_ms_per_megapixel: f64,
    /// Per MB of each photo embedded in the PDF: reportlab's pure-Python
    /// ASCII85 encoding of the JPEG's bytes, its stream written.
    pub embed_ms_per_mb: f64,
    /// Per photo drawn, besides decode and embed: its flowable, the layout.
    pub document_ms_per_photo: f64,
    /// Per PDF, besides its photos: the story, tables, signatures, save.
    pub document_ms: f64,
    /// Per MB of each report uploaded (the Excel workbook, the PDF).
    pub upload_ms_per_mb: f64,
}

/// The largest figure a key may have: one minute of CPU per unit is far
/// past any measured stage, and bounds what a typo can make a job spend.
pub const MAX_MS: f64 = 60_000.0;

impl CpuSettings {
    /// Whether any cost is set (the server then measures its threads' CPU).
    pub fn is_on(&self) -> bool {
        self.keys().iter().any(|(_, v)| *v > 0.0)
    }

    fn keys(&self) -> [(&'static str, f64); 7] {
        [
            ("model.cpu.job_ms", self.job_ms),
            ("model.cpu.download_ms_per_mb", self.download_ms_per_mb),
            (
                "model.cpu.decode_ms_per_megapixel",
                self.decode_ms_per_megapixel,
            ),
            ("model.cpu.embed_ms_per_mb", self.embed_ms_per_mb),
            (
                "model.cpu.document_ms_per_photo",
                self.document_ms_per_photo,
            ),
            ("model.cpu.document_ms", self.document_ms),
            ("model.cpu.upload_ms_per_mb", self.upload_ms_per_mb),
        ]
    }

    /// The key and the reason when a figure cannot be a CPU cost.
    pub fn invalid(&self) -> Option<(&'static str, &'static str)> {
        self.keys().into_iter().find_map(|(key, v)| {
            (!v.is_finite() || !(0.0..=MAX_MS).contains(&v)).then_some((
                key,
                "must be milliseconds of CPU from 0 (off) to 60000; measure the app's \
                 stages with examples/flask-reportlab/measure/cpu_stages.py",
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn cpu_costs_are_off_unless_a_profile_sets_them() {
        let s = Settings::from_toml("").unwrap();
        assert!(!s.model.cpu.is_on());
        let s = Settings::from_toml("[model.cpu]\nembed_ms_per_mb = 180").unwrap();
        assert!(s.model.cpu.is_on());
        assert_eq!(s.model.cpu.embed_ms_per_mb, 180.0);
    }

    #[test]
    fn a_cost_that_is_negative_or_huge_names_its_key_and_the_fix() {
        for (toml, key) in [
            ("[model.cpu]\njob_ms = -1", "model.cpu.job_ms"),
            (
                "[model.cpu]\ndecode_ms_per_megapixel = 1e9",
                "model.cpu.decode_ms_per_megapixel",
            ),
            (
                "[model.cpu]\nupload_ms_per_mb = nan",
                "model.cpu.upload_ms_per_mb",
            ),
        ] {
            let err = Settings::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
            assert!(err.contains("cpu_stages.py"), "{toml}: {err}");
        }
        let err = Settings::from_toml("[model.cpu]\ndecode_ms = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("decode_ms"), "{err}");
    }
}
