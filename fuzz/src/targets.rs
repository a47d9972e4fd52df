//! The targets, the mutator and the loop (the `parsers` feature: the four
//! parser targets need the server's, the fake's and the harness's crates).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// What can be fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// mock-cloudinary's delivery-URL and transformation parser.
    Transformation,
    /// The server's submission parser and validator.
    Submission,
    /// The server's profile (settings) parser and validation.
    Profile,
    /// The harness's scenario parser and validation.
    Scenario,
    /// The reduced-scale JPEG decoder (`reduced-jpeg`, lean's decoder for
    /// progressive photos): see [`crate::jpeg`].
    ReducedJpeg,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::Transformation,
        Target::Submission,
        Target::Profile,
        Target::Scenario,
        Target::ReducedJpeg,
    ];

    /// Seed inputs: the shipped files and typical values.
    pub fn corpus(self, root: &Path) -> Vec<Vec<u8>> {
        let files = |dir: &str| -> Vec<Vec<u8>> {
            let mut out = Vec::new();
            if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
                for e in entries.flatten() {
                    if let Ok(b) = std::fs::read(e.path()) {
                        out.push(b);
                    }
                }
            }
            out
        };
        match self {
            Target::Transformation => [
                "/oomlab/image/upload/oomlab/camera-1.jpg",
                "/oomlab/image/upload/w_1600,h_1600,c_limit,q_80/v1/oomlab/phone-2.jpg",
                "/oomlab/image/upload/c_fill,w_200,h_200/q_auto,f_auto/oomlab/small-3.png",
                "/oomlab/image/upload/w_0/x.jpg",
                "/oomlab/raw/upload/v123/job-1-report.pdf",
                "/oomlab/image/upload/oomlab/640x480-60k-7.jpg",
            ]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
            Target::Submission => vec![
                br#"{"site":{"name":"Depot","address":"1 Quay","date":"2026-11-28"},"items":[{"asset":"A","quantity":2,"photo_urls":["http://127.0.0.1:4000/oomlab/image/upload/oomlab/phone-1.jpg"]}],"signatures":[{"role":"inspector","name":"x","image":"data:image/png;base64,iVBORw0KGgo="}]}"#.to_vec(),
                br#"{"site":{"name":"x"},"items":[]}"#.to_vec(),
            ],
            Target::Profile => files("profiles"),
            Target::Scenario => files("scenarios"),
            Target::ReducedJpeg => crate::jpeg::seeds(),
        }
    }

    /// Tokens worth inserting.
    pub fn dictionary(self) -> &'static [&'static [u8]] {
        match self {
            Target::Transformation => &[
                b"w_",
                b"h_",
                b"c_limit",
                b"c_fill",
                b"c_fit",
                b"c_scale",
                b"q_auto",
                b"q_",
                b"f_auto",
                b"f_jpg",
                b",",
                b"/",
                b"v1",
                b".jpg",
                b".png",
                b"99999999999",
                b"0",
                b"-1",
                b"%2e%2e",
            ],
            Target::Submission => &[
                b"\"photo_urls\":",
                b"[",
                b"]",
                b"{",
                b"}",
                b"null",
                b"1e999",
                b"-1",
                b"\"\"",
                b"\\u0000",
                b"data:image/png;base64,",
                b"http://169.254.169.254/",
                b"4294967296",
            ],
            Target::ReducedJpeg => crate::jpeg::DICTIONARY,
            Target::Profile | Target::Scenario => &[
                b"=",
                b"[",
                b"]",
                b"\"",
                b"-1",
                b"0",
                b"1e400",
                b"nan",
                b"inf",
                b"true",
                b"[[",
                b"]]",
                b"18446744073709551616",
                b"\n",
                b"#",
            ],
        }
    }

    /// Feed one input. Errors are fine; panics are crashes.
    pub fn run_one(self, input: &[u8]) {
        match self {
            Target::Transformation => {
                let path = String::from_utf8_lossy(input);
                let _ = mock_cloudinary::grammar::parse_delivery("oomlab", &path);
                for seg in path.split('/') {
                    let _ = mock_cloudinary::grammar::parse_step(seg);
                }
            }
            Target::Submission => {
                use report_server::cloudinary::CloudinaryUrls;
                use report_server::settings::{CloudinarySettings, LimitSettings};
                let urls = CloudinaryUrls::new(&CloudinarySettings {
                    base_url: "http://127.0.0.1:4000".into(),
                    cloud_name: "oomlab".into(),
                })
                .expect("a valid base URL");
                if let Ok(sub) = report_server::submission::Submission::parse(input) {
                    let _ = sub.validate(&LimitSettings::default(), &urls);
                    let _ = sub.photos().count();
                }
            }
            Target::Profile => {
                let text = String::from_utf8_lossy(input);
                let _ = report_server::Settings::from_toml(&text);
            }
            Target::Scenario => {
                let text = String::from_utf8_lossy(input);
                let _ = oomlab::scenario::Scenario::parse(Path::new("fuzz.toml"), &text);
            }
            Target::ReducedJpeg => crate::jpeg::run_one(input),
        }
    }
}

/// Seeded mutations of corpus entries.
pub struct Mutator {
    rng: SmallRng,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// A mutant of a random corpus entry: 1 to 8 stacked mutations.
    pub fn mutate(&mut self, corpus: &[Vec<u8>], dict: &[&[u8]]) -> Vec<u8> {
        let mut data = corpus[self.rng.random_range(0..corpus.len())].clone();
        for _ in 0..self.rng.random_range(1..=8) {
            let len = data.len();
            match self.rng.random_range(0..6) {
                0 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    data[i] ^= 1 << self.rng.random_range(0..8);
                }
                1 => {
                    let i = self.rng.random_range(0..=len);
                    data.insert(i, self.rng.random());
                }
                2 if len > 0 => {
                    let i = self.rng.random_range(0..len);
                    let n = self.rng.random_range(1..=(len - i).min(16));
                    data.drain(i..i + n);
                }
                3 => {
                    let tok = dict[self.rng.random_range(0..dict.len())];
                    let i = self.rng.random_range(0..=len);
                    data.splice(i..i, tok.iter().copied());
                }
                4 => {
                    let other = &corpus[self.rng.random_range(0..corpus.len())];
                    if !other.is_empty() {
                        let a = self.rng.random_range(0..other.len());
                        let b = self.rng.random_range(a..=other.len());
                        let i = self.rng.random_range(0..=len);
                        data.splice(i..i, other[a..b].iter().copied());
                    }
                }
                _ if len > 1 => {
                    // Duplicate a chunk: grows nesting and repetition.
                    let a = self.rng.random_range(0..len);
                    let b = self.rng.random_range(a..=len.min(a + 64));
                    let chunk = data[a..b].to_vec();
                    data.splice(b..b, chunk);
                }
                _ => {}
            }
        }
        data.truncate(1 << 16);
        data
    }
}

impl Target {
    /// Its name, as the coverage-guided harness's fuzz target is named.
    pub fn name(self) -> &'static str {
        match self {
            Target::Transformation => "transformation",
            Target::Submission => "submission",
            Target::Profile => "profile",
            Target::Scenario => "scenario",
            Target::ReducedJpeg => "reduced_jpeg",
        }
    }
}

/// Writes every target's seeds to `dir/<target>/seed-N` and its dictionary
/// to `dir/<target>.dict` (libFuzzer's format), for the coverage-guided
/// harness in `fuzz/coverage`. Returns the number of seed files written.
pub fn write_seeds(root: &Path, dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for t in Target::ALL {
        let sub = dir.join(t.name());
        std::fs::create_dir_all(&sub)?;
        for (i, seed) in t.corpus(root).iter().enumerate() {
            std::fs::write(sub.join(format!("seed-{i}")), seed)?;
            n += 1;
        }
        let dict: String = t
            .dictionary()
            .iter()
            .map(|tok| format!("{}\n", dict_entry(tok)))
            .collect();
        std::fs::write(dir.join(format!("{}.dict", t.name())), dict)?;
    }
    Ok(n)
}

/// One libFuzzer dictionary line: the token quoted, with `\`, `"` and
/// non-printable bytes escaped as `\xNN`.
fn dict_entry(tok: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in tok {
        if b != b'\\' && b != b'"' && (0x20..=0x7e).contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s.push('"');
    s
}

/// What a fuzzing run found.
#[derive(Debug)]
pub struct FuzzReport {
    pub target: Target,
    pub executions: u64,
    pub elapsed: Duration,
    /// The first input that panicked, with the panic message.
    pub crash: Option<(Vec<u8>, String)>,
}

/// Run `target` until `budget` elapses or `max_execs` inputs were tried.
pub fn fuzz(
    target: Target,
    root: &Path,
    seed: u64,
    budget: Duration,
    max_execs: u64,
) -> FuzzReport {
    let corpus = target.corpus(root);
    assert!(
        !corpus.is_empty(),
        "no seed corpus for {target:?} under {}",
        root.display()
    );
    let dict = target.dictionary();
    let mut m = Mutator::new(seed);
    let started = Instant::now();
    let mut executions = 0;
    // Seeds first, unchanged.
    let mut pending: Vec<Vec<u8>> = corpus.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut crash = None;
    while started.elapsed() < budget && executions < max_execs {
        let input = pending.pop().unwrap_or_else(|| m.mutate(&corpus, dict));
        executions += 1;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| target.run_one(&input))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            crash = Some((input, msg));
            break;
        }
    }
    std::panic::set_hook(hook);
    FuzzReport {
        target,
        executions,
        elapsed: started.elapsed(),
        crash,
    }
}
