//! The HAR 1.2 keys read (`log.entries[]`: request, response, start time,
//! Chrome's `_resourceType`), and each entry decoded into a [`Call`].
//! Keys not read are ignored: browsers add their own (`_initiator`,
//! `_priority`, timings).

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Har {
    pub log: Log,
}

#[derive(Debug, Deserialize)]
pub struct Log {
    #[serde(default)]
    pub entries: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default)]
    pub started_date_time: String,
    pub request: Request,
    pub response: Response,
    #[serde(rename = "_resourceType", default)]
    pub resource_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    pub post_data: Option<PostData>,
}

#[derive(Debug, Deserialize)]
pub struct NameValue {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostData {
    #[serde(default)]
    pub mime_type: String,
    pub text: Option<String>,
    #[serde(default)]
    pub params: Vec<Param>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Response {
    pub status: i64,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(default)]
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    #[serde(default)]
    pub mime_type: String,
    pub text: Option<String>,
    pub encoding: Option<String>,
    #[serde(default)]
    pub size: i64,
}

/// A file part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePart {
    /// The form field.
    pub field: String,
    /// The file's name.
    pub file_name: String,
    /// Its type (`image/jpeg`), when said.
    pub content_type: String,
}

/// One request and its answer, decoded.
#[derive(Debug, Clone)]
pub struct Call {
    /// Its place in the recording.
    pub index: usize,
    pub method: String,
    /// `scheme://host:port`.
    pub origin: String,
    /// The path and query.
    pub path: String,
    /// Milliseconds since the first call, when the recording says.
    pub at_ms: Option<f64>,
    /// The day it was made, `YYYY-MM-DD`, when the recording says.
    pub day: Option<String>,
    pub resource_type: Option<String>,
    /// The request's content type, lower case.
    pub request_type: String,
    /// Its urlencoded or multipart text fields.
    pub form: Vec<(String, String)>,
    /// Its multipart files.
    pub files: Vec<FilePart>,
    /// Its JSON body.
    pub json: Option<Value>,
    pub request_headers: Vec<(String, String)>,
    pub status: u16,
    /// The answer's content type, lower case, parameters left out.
    pub response_type: String,
    pub response_headers: Vec<(String, String)>,
    /// The answer's text, when it is text.
    pub response_text: Option<String>,
    pub response_json: Option<Value>,
    /// The answer's size as recorded, bytes.
    pub response_bytes: i64,
}

impl Call {
    /// A request header's value (names ignore case).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        header(&self.request_headers, name)
    }

    /// An answer header's value (names ignore case).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        header(&self.response_headers, name)
    }

    /// The path without its query.
    pub fn bare_path(&self) -> &str {
        self.path.split('?').next().unwrap_or(&self.path)
    }

    /// How messages name it: `POST /api/photos (201)`.
    pub fn label(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.status)
    }

    /// A script, style, font, image or media file fetched with GET: what a
    /// page needs, not what the app's work is.
    pub fn is_static(&self) -> bool {
        if self.method != "GET" {
            return false;
        }
        if let Some(rt) = &self.resource_type
            && matches!(
                rt.as_str(),
                "script" | "stylesheet" | "image" | "font" | "media" | "manifest" | "texttrack"
            )
        {
            return true;
        }
        let ext = self
            .bare_path()
            .rsplit('/')
            .next()
            .and_then(|f| f.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        if let Some(e) = ext
            && [
                "js", "mjs", "css", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp",
                "avif", "woff", "woff2", "ttf", "otf", "eot",
            ]
            .contains(&e.as_str())
        {
            return true;
        }
        let t = self.response_type.as_str();
        t.starts_with("image/")
            || t.starts_with("font/")
            || t == "text/css"
            || t.contains("javascript")
    }

    /// An HTML page.
    pub fn is_page(&self) -> bool {
        self.resource_type.as_deref() == Some("document") || self.response_type == "text/html"
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The recording's entries as calls, in order of start (skipping what is
/// not HTTP: `data:`, `blob:`, websockets).
pub fn calls(har: &Har) -> Vec<Call> {
    let mut entries: Vec<&Entry> = har.log.entries.iter().collect();
    // Browsers write entries in start order; a merged file may not be.
    entries.sort_by(|a, b| a.started_date_time.cmp(&b.started_date_time));
    let t0 = entries
        .iter()
        .find_map(|e| parse_time(&e.started_date_time));
    entries
        .iter()
        .filter_map(|e| {
            let url = url::Url::parse(&e.request.url).ok()?;
            if !matches!(url.scheme(), "http" | "https") {
                return None;
            }
            let origin = url.origin().ascii_serialization();
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            Some((e, origin, path))
        })
        .enumerate()
        .map(|(index, (e, origin, path))| {
            let (mut request_type, form, files, json) = request_body(e.request.post_data.as_ref());
            if request_type.is_empty() {
                // Playwright leaves a multipart body out; its header says.
                request_type = e
                    .request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-type"))
                    .map(|h| h.value.to_ascii_lowercase())
                    .unwrap_or_default();
            }
            let response_type = e
                .response
                .content
                .mime_type
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let response_text = response_text(&e.response.content);
            let response_json = response_text
                .as_deref()
                .filter(|_| response_type.contains("json"))
                .and_then(|t| serde_json::from_str(t).ok());
            Call {
                index,
                method: e.request.method.to_ascii_uppercase(),
                origin,
                path,
                at_ms: match (t0, parse_time(&e.started_date_time)) {
                    (Some(a), Some(b)) => {
                        Some((b - a).num_microseconds().unwrap_or(0) as f64 / 1e3)
                    }
                    _ => None,
                },
                day: parse_time(&e.started_date_time).map(|t| t.format("%Y-%m-%d").to_string()),
                resource_type: e.resource_type.clone(),
                request_type,
                form,
                files,
                json,
                request_headers: pairs(&e.request.headers),
                status: u16::try_from(e.response.status).unwrap_or(0),
                response_type,
                response_headers: pairs(&e.response.headers),
                response_text,
                response_json,
                response_bytes: e.response.content.size,
            }
        })
        .collect()
}

fn pairs(h: &[NameValue]) -> Vec<(String, String)> {
    h.iter()
        .map(|nv| (nv.name.clone(), nv.value.clone()))
        .collect()
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(s).ok()
}

/// The answer's text, decoded from base64 when the recording encoded it;
/// `None` when it was not recorded or is not UTF-8 (a PDF).
fn response_text(c: &Content) -> Option<String> {
    let text = c.text.as_ref()?;
    if c.encoding.as_deref() == Some("base64") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?;
        return String::from_utf8(bytes).ok();
    }
    Some(text.clone())
}

type Body = (String, Vec<(String, String)>, Vec<FilePart>, Option<Value>);

/// The request's content type, form fields, files and JSON body.
fn request_body(pd: Option<&PostData>) -> Body {
    let Some(pd) = pd else {
        return (String::new(), Vec::new(), Vec::new(), None);
    };
    let mime = pd.mime_type.to_ascii_lowercase();
    let mut form = Vec::new();
    let mut files = Vec::new();
    let mut json = None;
    let text = pd.text.as_deref().unwrap_or("");
    // A multipart body's own text names its files (`filename=`); the
    // params of some exporters do not (a file's value written as
    // `(binary)`), so the text is read first when there is one.
    if mime.starts_with("multipart/form-data") && !text.is_empty() {
        (form, files) = multipart_parts(text);
        if !form.is_empty() || !files.is_empty() {
            return (mime, form, files, None);
        }
    }
    for p in &pd.params {
        match &p.file_name {
            Some(f) => files.push(FilePart {
                field: p.name.clone(),
                file_name: f.clone(),
                content_type: p.content_type.clone().unwrap_or_default(),
            }),
            None => form.push((p.name.clone(), p.value.clone().unwrap_or_default())),
        }
    }
    // The text again: whether an exporter's params are still URL-encoded
    // varies, the text is as sent.
    if mime.starts_with("application/x-www-form-urlencoded") && !text.is_empty() {
        form = url::form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    } else if mime.contains("json") {
        json = serde_json::from_str(text).ok();
    }
    (mime, form, files, json)
}

/// The fields and files of a multipart body as the recording wrote it
/// (file contents may be left out or garbled: only their headers are read).
fn multipart_parts(text: &str) -> (Vec<(String, String)>, Vec<FilePart>) {
    let mut form = Vec::new();
    let mut files = Vec::new();
    for part in text.split("Content-Disposition:").skip(1) {
        let (head, rest) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
            .unwrap_or((part, ""));
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            let i = head.find(&key)? + key.len();
            head[i..].split('"').next().map(str::to_string)
        };
        let Some(field) = attr("name") else { continue };
        match attr("filename") {
            Some(file_name) => {
                let content_type = head
                    .lines()
                    .find_map(|l| {
                        l.split_once(':')
                            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-type"))
                            .map(|(_, v)| v.trim().to_ascii_lowercase())
                    })
                    .unwrap_or_default();
                files.push(FilePart {
                    field,
                    file_name,
                    content_type,
                });
            }
            None => {
                let value = rest.split("\r\n--").next().unwrap_or("").trim_end();
                form.push((field, value.to_string()));
            }
        }
    }
    (form, files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_headers_are_read_without_the_file_s_bytes() {
        let text = "------B\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{fffd}\u{fffd}JFIF\r\n------B\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n------B--\r\n";
        let (form, files) = multipart_parts(text);
        assert_eq!(form, [("note".to_string(), "hello".to_string())]);
        assert_eq!(
            files,
            [FilePart {
                field: "photo".into(),
                file_name: "a.jpg".into(),
                content_type: "image/jpeg".into()
            }]
        );
    }
}
