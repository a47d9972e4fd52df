//! The recorded submission as the scenario's templates: the photo URLs the
//! uploads answered become `{{photo_urls}}` of an item, the list of items
//! `{{items}}`, signature data URIs `{{signature_png}}` (a list of signature
//! objects `{{signatures}}`), the day of the recording `{{date}}`. The
//! status and downloads that follow are read in [`status`].

mod status;

use serde_json::Value;

use super::flow::{Flow, body_text};
use super::json;
use super::model::Call;

pub use status::Status;

use crate::scenario::SubmitAs;

/// Everything `[http]` and `[submission]` take from the recording.
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub upload_path: Option<String>,
    pub upload_field: Option<String>,
    /// The pointer of the upload answer's value the submission references.
    pub upload_url_pointer: Option<String>,
    pub submit_path: String,
    /// How the submission was sent.
    pub submit_as: SubmitAs,
    pub submission_template: Option<Value>,
    pub item_template: Option<Value>,
    pub signature_template: Option<Value>,
    pub items: usize,
    pub photos_per_item: usize,
    /// The signatures' roles, when the recording sent a list of them.
    pub roles: Option<Vec<String>>,
    pub status: Status,
    pub checks: Vec<String>,
}

const ROLE_KEYS: &[&str] = &["role", "type", "kind", "signer"];

/// Reads the submission at `calls[submit]` and what the flow around it says.
pub fn templates(calls: &[Call], flow: &Flow, submit: usize) -> Body {
    let call = &calls[submit];
    let mut b = Body {
        submit_path: call.path.clone(),
        ..Body::default()
    };
    if call.method != "POST" {
        b.checks.push(format!(
            "the submission is a {}: the load sends it as a POST",
            call.method
        ));
    }
    if let Some(&first) = flow.uploads.first() {
        let up = &calls[first];
        b.upload_path = Some(up.path.clone());
        b.upload_field = up.files.first().map(|f| f.field.clone());
        if b.upload_field.is_none() {
            b.checks.push(
                "the recording left out the uploads' bodies (Playwright does): the photo's multipart field is not known, the default `photo` is used; check upload_field".into(),
            );
        }
        if flow.uploads.iter().any(|&i| calls[i].path != up.path) {
            b.checks.push(format!(
                "the uploads went to several paths; upload_path is the first's, {}",
                up.path
            ));
        }
        if up.method != "POST" {
            b.checks.push(format!(
                "the photos were uploaded with {}: the load uploads with POST",
                up.method
            ));
        }
        if !up.form.is_empty() {
            let fields: Vec<&str> = up.form.iter().map(|(k, _)| k.as_str()).collect();
            b.checks.push(format!(
                "the uploads also sent the fields {}: the load sends the photo alone",
                fields.join(", ")
            ));
        }
    }
    let (pointer, mut photo_values) = upload_pointer(calls, flow, call);
    b.upload_url_pointer = pointer;
    b.status = status::read(calls, flow, submit, &mut b.checks);
    if flow.attached {
        // The photos are parts of the submission: the load sends its own
        // under `upload_field`, and `{{photo_urls}}` holds their file names.
        b.upload_field = call.files.first().map(|f| f.field.clone());
        photo_values = call.files.iter().map(|f| f.file_name.clone()).collect();
        if let Some(other) = call
            .files
            .iter()
            .find(|f| Some(&f.field) != b.upload_field.as_ref())
        {
            b.checks.push(format!(
                "the submission sent files under several fields ({} and {}): the load sends every photo under upload_field",
                call.files[0].field, other.field
            ));
        }
    }
    b.submit_as = submit_as(call);

    let body = match (&call.json, call.form.is_empty()) {
        (Some(v), _) => v.clone(),
        (None, false) => form_object(call, &mut b.checks),
        (None, true) => {
            b.items = 1;
            b.photos_per_item = if flow.attached {
                call.files.len()
            } else {
                flow.uploads.len()
            };
            b.checks.push(format!(
                "the submission, {}, has no body in the recording; write submission_template by hand",
                call.label()
            ));
            return b;
        }
    };
    let day = call.day.clone();
    let leaves: Vec<(String, Value)> = json::leaves(&body)
        .into_iter()
        .map(|(p, v)| (p, v.clone()))
        .collect();
    let is_photo = |v: &Value| json::text(v).is_some_and(|t| photo_values.contains(&t));
    let is_sig = |v: &Value| v.as_str().is_some_and(|s| s.starts_with("data:image/"));

    // The items: the array whose objects hold the photo lists.
    let photo_leaves: Vec<&str> = leaves
        .iter()
        .filter(|(_, v)| is_photo(v))
        .map(|(p, _)| p.as_str())
        .collect();
    let mut items_ptr: Option<String> = None;
    let mut list_key = String::new();
    if let Some(first) = photo_leaves.first() {
        let list = json::parent(first).map(|(l, _)| l).unwrap_or("");
        let holder = json::parent(list);
        match (body.pointer(list), holder.and_then(|(h, _)| json::parent(h))) {
            (Some(Value::Array(_)), Some((arr, _)))
                if body.pointer(arr).is_some_and(Value::is_array) =>
            {
                items_ptr = Some(arr.to_string());
                list_key = json::last_key(list);
            }
            _ => b.checks.push(format!(
                "the photo URLs are at {first} of the submission, not in a list inside a list of items: the templates cannot place them; the recorded URLs are kept, edit submission_template"
            )),
        }
    } else if flow.attached && !call.files.is_empty() {
        b.checks.push(
            "no field of the submission names its photos' files: the photos are sent, but no item lists them; check item_template".into(),
        );
    } else if !flow.uploads.is_empty() {
        b.checks.push(
            "no value the uploads answered is in the submission: check upload_url_pointer and item_template".into(),
        );
    }

    // The signatures: a list of objects holding a data URI, or data URIs
    // as plain values.
    let sig_leaves: Vec<&str> = leaves
        .iter()
        .filter(|(_, v)| is_sig(v))
        .map(|(p, _)| p.as_str())
        .collect();
    let mut sigs_ptr: Option<String> = None;
    if let Some(first) = sig_leaves.first()
        && let Some((holder, _)) = json::parent(first)
        && let Some((arr, _)) = json::parent(holder)
        && body.pointer(holder).is_some_and(Value::is_object)
        && body.pointer(arr).is_some_and(Value::is_array)
        && items_ptr.as_deref().is_none_or(|i| !arr.starts_with(i))
    {
        sigs_ptr = Some(arr.to_string());
    }

    // Templates: placeholders put in a copy, deepest first.
    let placed = |v: &Value| -> Value {
        let mut out = v.clone();
        for (p, x) in json::leaves(v) {
            let new = if is_sig(x) {
                Some("{{signature_png}}")
            } else if day.as_deref().is_some_and(|d| x.as_str() == Some(d)) {
                Some("{{date}}")
            } else {
                None
            };
            if let (Some(new), Some(slot)) = (new, out.pointer_mut(&p)) {
                *slot = Value::String(new.into());
            }
        }
        out
    };
    if let Some(items) = &items_ptr {
        let arr = body
            .pointer(items)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        b.items = arr.len().max(1);
        let lens: Vec<usize> = arr
            .iter()
            .map(|it| {
                it.get(&list_key)
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            })
            .collect();
        b.photos_per_item = lens.iter().copied().max().unwrap_or(0);
        if lens.iter().any(|&n| n != b.photos_per_item) {
            b.checks.push(format!(
                "the recorded items have {lens:?} photos; every item of the scenario has {}",
                b.photos_per_item
            ));
        }
        let mut item = placed(&arr[0]);
        if let Some(slot) = item.get_mut(&list_key) {
            *slot = Value::String("{{photo_urls}}".into());
        }
        b.item_template = Some(item);
    } else {
        b.items = 1;
        b.photos_per_item = if flow.attached {
            call.files.len()
        } else {
            flow.uploads.len()
        };
    }
    if let Some(sigs) = &sigs_ptr {
        let arr = body
            .pointer(sigs)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let role_key = arr.first().and_then(|s| {
            ROLE_KEYS
                .iter()
                .find(|k| s.get(**k).is_some_and(Value::is_string))
        });
        let mut sig = placed(&arr[0]);
        match role_key {
            Some(k) => {
                b.roles = Some(
                    arr.iter()
                        .filter_map(|s| s.get(*k).and_then(Value::as_str).map(str::to_string))
                        .collect(),
                );
                sig[*k] = Value::String("{{role}}".into());
            }
            None => {
                b.roles = Some((1..=arr.len()).map(|n| format!("signer-{n}")).collect());
            }
        }
        b.signature_template = Some(sig);
    } else if sig_leaves.is_empty() {
        b.roles = Some(Vec::new());
    }
    let mut sub = placed(&body);
    if let Some(items) = &items_ptr
        && let Some(slot) = sub.pointer_mut(items)
    {
        *slot = Value::String("{{items}}".into());
    }
    if let Some(sigs) = &sigs_ptr
        && let Some(slot) = sub.pointer_mut(sigs)
    {
        *slot = Value::String("{{signatures}}".into());
    }
    b.submission_template = Some(sub);
    let total = b.items * b.photos_per_item;
    let sent = if flow.attached {
        call.files.len()
    } else {
        flow.uploads.len()
    };
    if sent > 0 && total != sent {
        let how = if flow.attached {
            "attached"
        } else {
            "uploaded"
        };
        b.checks.push(format!(
            "{sent} photos were {how} but the submission references {total}"
        ));
    }
    b
}

/// How the recorded submission was sent.
fn submit_as(call: &Call) -> SubmitAs {
    if call.json.is_some() {
        SubmitAs::Json
    } else if call.request_type.starts_with("multipart/") || !call.files.is_empty() {
        SubmitAs::Multipart
    } else {
        SubmitAs::Form
    }
}

/// A form's fields as a JSON object, the template the load sends back as
/// a form: a field holding JSON text (a list or an object, as a page's
/// script fills a hidden field) as that JSON, so its photos and signatures
/// can be placed; the load sends it as JSON text again.
fn form_object(call: &Call, checks: &mut Vec<String>) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in &call.form {
        let value = match serde_json::from_str::<Value>(v) {
            Ok(j @ (Value::Array(_) | Value::Object(_))) => j,
            _ => Value::String(v.clone()),
        };
        if out.insert(k.clone(), value).is_some() {
            checks.push(format!(
                "the submission's form sends the field `{k}` more than once: the template keeps the last value"
            ));
        }
    }
    Value::Object(out)
}

/// The text at `pointer` in each upload's JSON answer, in upload order
/// (uploads whose answer has none left out).
fn upload_texts<'a>(
    flow: &'a Flow,
    calls: &'a [Call],
    pointer: &'a str,
) -> impl Iterator<Item = String> + 'a {
    flow.uploads.iter().filter_map(move |&i| {
        calls[i]
            .response_json
            .as_ref()?
            .pointer(pointer)
            .and_then(json::text)
    })
}

/// The pointer of the upload answers' value that the submission holds
/// (their URL, or their public id), and those values.
fn upload_pointer(calls: &[Call], flow: &Flow, submit: &Call) -> (Option<String>, Vec<String>) {
    let body = body_text(submit);
    // The values the submission sends, whole: a value found whole beats
    // one found inside another (a public id inside its URL).
    let mut sent: Vec<String> = submit.form.iter().map(|(_, v)| v.clone()).collect();
    if let Some(v) = &submit.json {
        sent.extend(
            json::leaves(v)
                .into_iter()
                .filter_map(|(_, x)| json::text(x)),
        );
    }
    let mut best: Option<(String, (usize, usize))> = None;
    let Some(first) = flow
        .uploads
        .first()
        .and_then(|&i| calls[i].response_json.as_ref())
    else {
        return (None, Vec::new());
    };
    for (p, _) in json::leaves(first) {
        let values: Vec<String> = upload_texts(flow, calls, &p)
            .filter(|t| t.len() > 3)
            .collect();
        let whole = values.iter().filter(|t| sent.contains(t)).count();
        let inside = values.iter().filter(|t| body.contains(t.as_str())).count();
        let found = (whole, inside);
        if inside > 0 && best.as_ref().is_none_or(|(_, n)| found > *n) {
            best = Some((p, found));
        }
    }
    let Some((pointer, _)) = best else {
        return (None, Vec::new());
    };
    let values = upload_texts(flow, calls, &pointer).collect();
    (Some(pointer), values)
}
