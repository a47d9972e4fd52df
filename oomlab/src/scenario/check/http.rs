//! `[http]`: the app's shape (paths, JSON pointers, templates, status
//! values), each key checked and every template rendered once with sample
//! values, so a mistake is a `ConfigError` before anything starts.

use super::steps::captured_through;
use super::*;
use crate::scenario::steps::At;

impl Checker<'_> {
    /// A path (`default` when not given), a template checked with `vars`.
    pub(super) fn path_key(
        &self,
        key: &str,
        v: Option<String>,
        default: &str,
        vars: &Vars,
    ) -> Result<String, ConfigError> {
        let v = v.unwrap_or_else(|| default.to_string());
        if !v.starts_with('/') {
            return Err(self.invalid(
                key,
                format!("`{v}` is not a path"),
                format!("start it with a slash, e.g. \"{default}\""),
            ));
        }
        self.text_template(key, &v, vars)?;
        Ok(v)
    }

    pub(super) fn pointer_key(
        &self,
        key: &str,
        v: Option<String>,
        default: &str,
    ) -> Result<String, ConfigError> {
        let v = v.unwrap_or_else(|| default.to_string());
        self.pointer(key, &v)?;
        Ok(v)
    }

    pub(super) fn pointer(&self, key: &str, v: &str) -> Result<(), ConfigError> {
        if !v.is_empty() && !v.starts_with('/') {
            return Err(self.invalid(
                key,
                format!("`{v}` is not a JSON pointer"),
                format!("write it as a JSON pointer (RFC 6901), e.g. \"/{v}\""),
            ));
        }
        Ok(())
    }

    pub(super) fn json_template(
        &self,
        key: &str,
        v: Option<String>,
        default: &str,
        sample: &Vars,
    ) -> Result<Value, ConfigError> {
        let text = v.unwrap_or_else(|| default.to_string());
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            self.invalid(
                key,
                format!("is not valid JSON: {e}"),
                "write the template as JSON in a TOML multi-line literal ('''...'''), placeholders inside strings, e.g. \"{{user}}\"",
            )
        })?;
        template::render(&value, sample).map_err(|e| self.template_error(key, e))?;
        Ok(value)
    }

    pub(super) fn text_template(
        &self,
        key: &str,
        text: &str,
        sample: &Vars,
    ) -> Result<(), ConfigError> {
        template::render_text(text, sample)
            .map(|_| ())
            .map_err(|e| self.template_error(key, e))
    }

    pub(super) fn template_error(&self, key: &str, e: TemplateError) -> ConfigError {
        self.invalid(
            key,
            e.to_string(),
            "use only the placeholders this template knows (see oomlab/SCENARIOS.md)",
        )
    }

    pub(super) fn values(
        &self,
        key: &str,
        v: Option<Vec<String>>,
        default: &str,
    ) -> Result<Vec<String>, ConfigError> {
        let v = v.unwrap_or_else(|| vec![default.to_string()]);
        if v.is_empty() {
            return Err(self.invalid(
                key,
                "is empty, so no job would ever end",
                format!("list at least one status value, e.g. [\"{default}\"]"),
            ));
        }
        Ok(v)
    }

    pub(super) fn http(&self, raw: RawHttp) -> Result<HttpShape, ConfigError> {
        // The steps first: the names they capture are known to the
        // templates that come after them in the flow, and only to those.
        let steps = self.steps(raw.steps.unwrap_or_default())?;
        let before_login = captured_through(&steps, At::BeforeLogin);
        let before_submission = captured_through(&steps, At::BeforeSubmit);
        let after_submission = captured_through(&steps, At::AfterSubmit);
        let submission_paths = sample_vars().with_all(before_submission.iter());
        // The status path is rendered when the submission is acknowledged,
        // before the `after_submit` steps.
        let status_paths = submission_paths.clone().with("job_id", "1");
        let job_paths = sample_vars()
            .with("job_id", "1")
            .with_all(after_submission.iter());
        // A signature's data URI is usable in every template of the
        // submission (an app may take signatures as top-level keys).
        let item_sample = sample_vars()
            .with_all(before_submission.iter())
            .with("signature_png", "data:image/png;base64,")
            .with("item_number", 1)
            .with(
                "photo_urls",
                Value::Array(vec![Value::from("http://x/1.jpg")]),
            )
            .with("photo_count", 1);
        let submission_sample = sample_vars()
            .with_all(before_submission.iter())
            .with("signature_png", "data:image/png;base64,")
            .with("items", Value::Array(vec![]))
            .with("signatures", Value::Array(vec![]))
            .with("photo_count", 1);
        let signature_sample = sample_vars()
            .with_all(before_submission.iter())
            .with("role", "inspector")
            .with("signature_png", "data:image/png;base64,");
        let job_id_header = match raw.job_id_header {
            Some(_) if raw.job_id_pointer.is_some() => {
                return Err(self.invalid(
                    "http.job_id_header",
                    "is given together with http.job_id_pointer",
                    "keep one: job_id_pointer (where the JSON answer holds the id) or job_id_header (a header such as Location whose last path segment is the id)",
                ));
            }
            Some(h) if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() => {
                return Err(self.invalid(
                    "http.job_id_header",
                    format!("`{h}` is not a valid header name"),
                    "name the header that holds the job's URL, e.g. job_id_header = \"Location\"",
                ));
            }
            h => h,
        };
        let status_url_pointer = match (&raw.status_path, raw.status_url_pointer) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    "http.status_url_pointer",
                    "is given together with http.status_path",
                    "keep one: status_path (a path with {{job_id}}) or status_url_pointer (where the answer gives the status URL)",
                ));
            }
            (Some(_), None) => None,
            // The header's value is the status URL.
            (None, None) if job_id_header.is_some() => None,
            (None, p) => Some(self.pointer_key("http.status_url_pointer", p, "/status_url")?),
        };
        let status_path = match raw.status_path {
            Some(p) => Some(self.path_key(
                "http.status_path",
                Some(p),
                "/api/jobs/{{job_id}}",
                &status_paths,
            )?),
            None => None,
        };
        let error_pointer = match raw.error_pointer {
            Some(p) if p.is_empty() => None,
            p => Some(self.pointer_key("http.error_pointer", p, "/error")?),
        };
        let report_url_pointers = raw.report_url_pointers.unwrap_or_default();
        for p in &report_url_pointers {
            if p.is_empty() {
                return Err(self.invalid(
                    "http.report_url_pointers",
                    "holds an empty pointer (the whole answer is not a link)",
                    "point at each link in the completed status answer, e.g. [\"/results/pdf_url\"]",
                ));
            }
            self.pointer("http.report_url_pointers", p)?;
        }
        let download_paths = match raw.download_paths {
            // Links in the answer replace the reference server's paths
            // unless paths are asked for too.
            None if !report_url_pointers.is_empty() => Vec::new(),
            None => vec![
                "/api/jobs/{{job_id}}/report.pdf".to_string(),
                "/api/jobs/{{job_id}}/report.xlsx".to_string(),
            ],
            Some(paths) => {
                for p in &paths {
                    self.path_key(
                        "http.download_paths",
                        Some(p.clone()),
                        "/api/jobs/{{job_id}}/report.pdf",
                        &job_paths,
                    )?;
                }
                paths
            }
        };
        let upload_field = raw.upload_field.unwrap_or_else(|| "photo".to_string());
        if upload_field.trim().is_empty() {
            return Err(self.invalid(
                "http.upload_field",
                "is empty",
                "name the multipart field of the photo, e.g. upload_field = \"photo\"",
            ));
        }
        Ok(HttpShape {
            upload_path: self.path_key(
                "http.upload_path",
                raw.upload_path,
                "/api/photos",
                &submission_paths,
            )?,
            upload_field,
            upload_url_pointer: self.pointer_key(
                "http.upload_url_pointer",
                raw.upload_url_pointer,
                "/url",
            )?,
            submit_path: self.path_key(
                "http.submit_path",
                raw.submit_path,
                "/api/submissions",
                &submission_paths,
            )?,
            // Set by the scenario's check, which knows the photo source.
            submit_as: SubmitAs::Json,
            submit_headers: self.request_headers(
                "http.submit_headers",
                raw.submit_headers.unwrap_or_default(),
                &submission_paths,
            )?,
            upload_headers: self.request_headers(
                "http.upload_headers",
                raw.upload_headers.unwrap_or_default(),
                &submission_paths,
            )?,
            submission_template: self.json_template(
                "http.submission_template",
                raw.submission_template,
                DEFAULT_SUBMISSION_TEMPLATE,
                &submission_sample,
            )?,
            item_template: self.json_template(
                "http.item_template",
                raw.item_template,
                DEFAULT_ITEM_TEMPLATE,
                &item_sample,
            )?,
            signature_template: self.json_template(
                "http.signature_template",
                raw.signature_template,
                DEFAULT_SIGNATURE_TEMPLATE,
                &signature_sample,
            )?,
            job_id_pointer: self.pointer_key(
                "http.job_id_pointer",
                raw.job_id_pointer,
                "/job_id",
            )?,
            job_id_header,
            status_url_pointer,
            status_path,
            status_pointer: self.pointer_key(
                "http.status_pointer",
                raw.status_pointer,
                "/status",
            )?,
            error_pointer,
            done_values: self.values("http.done_values", raw.done_values, "completed")?,
            failed_values: self.values("http.failed_values", raw.failed_values, "failed")?,
            download_paths,
            request_timeout: self.seconds(
                "http.request_timeout_s",
                raw.request_timeout_s.unwrap_or(120.0),
                1.0,
                3_600.0,
            )?,
            login: raw
                .login
                .map(|l| self.login(l, &before_login))
                .transpose()?,
            headers: self.headers(raw.headers.unwrap_or_default())?,
            report_url_pointers,
            degraded_photos_pointer: match raw.degraded_photos_pointer {
                Some(p) if p.is_empty() => None,
                p => {
                    Some(self.pointer_key("http.degraded_photos_pointer", p, "/degraded_photos")?)
                }
            },
            steps,
        })
    }
}

/// The variables every template knows.
pub(super) fn sample_vars() -> Vars {
    Vars::new()
        .with("user", 1)
        .with("iteration", 1)
        .with("date", "2026-11-28")
}
