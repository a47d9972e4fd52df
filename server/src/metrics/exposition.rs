//! The formats `/metrics` answers in. prometheus-client writes OpenMetrics
//! 1.0 only; Prometheus asks for it (its scrape `Accept` header names
//! `application/openmetrics-text`) and gets it as written. Any other client
//! (`curl`, `promtool check metrics`, an older scraper) gets the Prometheus
//! text format 0.0.4, which differs where it matters to a parser: a
//! counter's `# HELP` and `# TYPE` lines name the family with its `_total`
//! suffix (OpenMetrics names it without), there is no `# UNIT` and no
//! `# EOF` line, `unknown` is `untyped`, and `# HELP` escapes only `\` and
//! newlines.

/// The format of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    Text,
}

impl Format {
    /// The format an `Accept` header asks for: OpenMetrics when it names
    /// it at all (whatever its weight: a client that knows it prefers it),
    /// the text format otherwise.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// `openmetrics` (prometheus-client's output) in this format.
    pub fn encode(self, openmetrics: String) -> String {
        match self {
            Format::OpenMetrics => openmetrics,
            Format::Text => to_text_format(&openmetrics),
        }
    }
}

/// OpenMetrics text as Prometheus text format 0.0.4.
pub fn to_text_format(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let family = |name: &str| {
        if counters.contains(&name) {
            format!("{name}_total")
        } else {
            name.to_string()
        }
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&format!(
                "# HELP {} {}\n",
                family(name),
                help.replace("\\\"", "\"")
            ));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let kind = if kind == "unknown" { "untyped" } else { kind };
            out.push_str(&format!("# TYPE {} {kind}\n", family(name)));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_asks_for_openmetrics_and_anyone_else_gets_text() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some("*/*")), Format::Text);
        assert_eq!(Format::from_accept(None), Format::Text);
    }

    #[test]
    fn counters_are_named_with_their_total_suffix_and_openmetrics_lines_dropped() {
        let om = "# HELP x_jobs Jobs \\\"done\\\".\n# TYPE x_jobs counter\nx_jobs_total 3\n\
                  # HELP x_rss_bytes RSS.\n# TYPE x_rss_bytes gauge\n# UNIT x_rss_bytes bytes\nx_rss_bytes 7\n\
                  # HELP x_other Other.\n# TYPE x_other unknown\nx_other 1\n# EOF\n";
        assert_eq!(
            to_text_format(om),
            "# HELP x_jobs_total Jobs \"done\".\n# TYPE x_jobs_total counter\nx_jobs_total 3\n\
             # HELP x_rss_bytes RSS.\n# TYPE x_rss_bytes gauge\nx_rss_bytes 7\n\
             # HELP x_other Other.\n# TYPE x_other untyped\nx_other 1\n"
        );
    }
}
