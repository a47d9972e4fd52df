//! `oomlab scenario from-har`: a scenario from a browser's recorded flow.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::target::{keep_checked, print_checks};
use crate::error::ConfigError;

/// `oomlab scenario ...`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// What to do with scenario files.
    #[command(subcommand)]
    pub command: ScenarioCommand,
}

/// The scenario subcommands.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Write a scenario from a browser's recorded flow (a HAR file, as
    /// DevTools' "Save all as HAR" writes it).
    #[command(name = "from-har", after_help = FROM_HAR_HELP)]
    FromHar(FromHarArgs),
}

const FROM_HAR_HELP: &str = "\
Examples:
  # Record in the browser: DevTools, Network tab, log in, upload the photos,
  # submit, wait for the report, download it; then \"Save all as HAR\".
  oomlab scenario from-har flow.har --out scenarios/my-app-single-report.toml
  oomlab run --target my-app --scenario scenarios/my-app-single-report.toml

What it recognises: the login (a POST with a password field, or to a path naming
login, session, sign-in or auth), each photo upload (a multipart POST with an image),
the submission (the POST after the uploads that sends what they answered; its body
becomes the templates, with the photo URLs, signature data URIs and the day as
placeholders), status polling (a GET repeated on one path until a value changes),
the downloads, and every other request to the app as an [[http.steps]] entry where
it was made, with a token a page handed out captured for later requests. Scripts,
styles, fonts and images are dropped. What needs you is printed on stderr and
marked CHECK in the file. The file is loaded before it is kept.

Exit codes: 0 written, 2 a bad file or flag (nothing written).";

/// `oomlab scenario from-har`'s flags.
#[derive(Debug, Args)]
pub struct FromHarArgs {
    /// The recording (HAR 1.2).
    #[arg(value_name = "FILE.har")]
    pub har: PathBuf,
    /// Where to write the scenario. Default: scenarios/NAME.toml.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The scenario's name. Default: the output file's stem, or the
    /// recording's.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Overwrite the output file when it exists.
    #[arg(long)]
    pub force: bool,
}

impl FromHarArgs {
    /// Writes the scenario; prints where, what was found and what to check.
    pub fn run(&self) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&self.har).map_err(|source| ConfigError::Read {
            path: self.har.clone(),
            source,
        })?;
        let name = self.name.clone().unwrap_or_else(|| {
            crate::input::stem(self.out.as_deref().unwrap_or(self.har.as_path()))
        });
        let out = self
            .out
            .clone()
            .unwrap_or_else(|| Path::new("scenarios").join(format!("{name}.toml")));
        let invocation = format!("oomlab scenario from-har {}", self.har.display());
        let written = crate::har::scenario_from_har(&self.har, &text, &name, &invocation)?;
        let steps_read = loader_reads_steps();
        keep_checked(&out, &written.toml, self.force, |p: &Path| {
            if steps_read {
                return crate::scenario::Scenario::load(p).map(|_| ());
            }
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?;
            crate::scenario::Scenario::parse(p, &crate::har::without_steps(&text)).map(|_| ())
        })?;
        println!("wrote {} ({})", out.display(), written.summary);
        let mut checks = written.checks;
        if !steps_read && written.toml.contains("[[http.steps]]") {
            checks.push(
                "this oomlab does not read [[http.steps]] yet: the rest of the file was checked, the steps were not".into(),
            );
        }
        print_checks(&out, &checks);
        Ok(())
    }
}

/// Whether this build's scenario loader reads `[[http.steps]]` (a
/// scenario with one step loads).
fn loader_reads_steps() -> bool {
    let probe = "[users]\ncount = 1\n[submission]\nphotos_per_item = 1\nphoto_kind = \"small\"\n[[http.steps]]\nat = \"after_login\"\npath = \"/\"\n";
    crate::scenario::Scenario::parse(Path::new("probe.toml"), probe).is_ok()
}
