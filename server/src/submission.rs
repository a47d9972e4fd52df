//! The submission of the modelled app and its validation: site fields, items
//! with photo URLs, signatures as `data:image/png;base64,...` URIs.
//!
//! Validation happens before anything is stored, so that a bad submission is
//! answered at once and never becomes a job that fails later. Photo URLs must
//! point at the configured Cloudinary: the job fetches them, and fetching any
//! other address would be a server-side request forgery.

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::cloudinary::CloudinaryUrls;
use crate::error::ApiError;
use crate::settings::LimitSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub site: Site,
    pub items: Vec<Item>,
    #[serde(default)]
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub client: String,
    #[serde(default)]
    pub inspector: String,
    #[serde(default)]
    pub date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub asset: String,
    #[serde(default)]
    pub system: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub quantity: u32,
    #[serde(default)]
    pub brand: String,
    #[serde(default)]
    pub specification: String,
    #[serde(default)]
    pub comments: String,
    #[serde(default)]
    pub photo_urls: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub role: String,
    #[serde(default)]
    pub name: String,
    /// `data:image/png;base64,...`
    pub image: String,
}

/// Largest decoded signature PNG, in bytes.
pub const MAX_SIGNATURE_BYTES: usize = 2 << 20;
/// Signatures per submission.
pub const MAX_SIGNATURES: usize = 10;

impl Submission {
    /// Parse JSON text; errors name the field and position.
    pub fn parse(body: &[u8]) -> Result<Submission, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Syntax | Category::Eof => {
                    ApiError::BadRequest(format!("the submission is not valid JSON: {e}"))
                }
                _ => ApiError::invalid("invalid_submission", format!("submission: {e}")),
            }
        })
    }

    /// Check limits, photo URLs and signatures.
    pub fn validate(&self, limits: &LimitSettings, urls: &CloudinaryUrls) -> Result<(), ApiError> {
        let too_long = |field: &str, v: &str| -> Result<(), ApiError> {
            if v.chars().count() > limits.max_text_chars {
                Err(ApiError::invalid(
                    "field_too_long",
                    format!(
                        "{field} is longer than {} characters",
                        limits.max_text_chars
                    ),
                ))
            } else {
                Ok(())
            }
        };
        if self.site.name.trim().is_empty() {
            return Err(ApiError::invalid(
                "missing_field",
                "site.name must not be empty",
            ));
        }
        for (f, v) in [
            ("site.name", &self.site.name),
            ("site.address", &self.site.address),
            ("site.client", &self.site.client),
            ("site.inspector", &self.site.inspector),
            ("site.date", &self.site.date),
        ] {
            too_long(f, v)?;
        }
        if self.items.is_empty() {
            return Err(ApiError::invalid(
                "missing_field",
                "items must hold at least one item",
            ));
        }
        if self.items.len() > limits.max_items {
            return Err(ApiError::invalid(
                "too_many_items",
                format!(
                    "{} items; at most {} are allowed",
                    self.items.len(),
                    limits.max_items
                ),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            for (f, v) in [
                ("asset", &item.asset),
                ("system", &item.system),
                ("description", &item.description),
                ("brand", &item.brand),
                ("specification", &item.specification),
                ("comments", &item.comments),
            ] {
                too_long(&format!("items[{i}].{f}"), v)?;
            }
            if item.photo_urls.len() > limits.max_photos_per_item {
                return Err(ApiError::invalid(
                    "too_many_photos",
                    format!(
                        "items[{i}] has {} photos; at most {} per item are allowed",
                        item.photo_urls.len(),
                        limits.max_photos_per_item
                    ),
                ));
            }
            for (j, u) in item.photo_urls.iter().enumerate() {
                urls.check_photo_url(u).map_err(|why| {
                    ApiError::invalid(
                        "photo_url_not_allowed",
                        format!("items[{i}].photo_urls[{j}]: {why}"),
                    )
                })?;
            }
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(ApiError::invalid(
                "too_many_signatures",
                format!("at most {MAX_SIGNATURES} signatures are allowed"),
            ));
        }
        for (i, s) in self.signatures.iter().enumerate() {
            too_long(&format!("signatures[{i}].name"), &s.name)?;
            too_long(&format!("signatures[{i}].role"), &s.role)?;
            decode_signature(&s.image).map_err(|why| {
                ApiError::invalid("invalid_signature", format!("signatures[{i}].image: {why}"))
            })?;
        }
        Ok(())
    }

    /// Every photo URL in order, with its item index.
    pub fn photos(&self) -> impl Iterator<Item = (usize, &str)> {
        self.items
            .iter()
            .enumerate()
            .flat_map(|(i, it)| it.photo_urls.iter().map(move |u| (i, u.as_str())))
    }
}

/// Decode a `data:image/png;base64,...` URI to PNG bytes, checking it is a
/// PNG of sane size.
pub fn decode_signature(uri: &str) -> Result<Vec<u8>, String> {
    let b64 = uri
        .strip_prefix("data:image/png;base64,")
        .ok_or("must be a data:image/png;base64,... URI")?;
    if b64.len() > MAX_SIGNATURE_BYTES * 4 / 3 + 4 {
        return Err(format!("is larger than {} KiB", MAX_SIGNATURE_BYTES >> 10));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| format!("is not valid base64: {e}"))?;
    let reader =
        image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Png);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("is not a readable PNG: {e}"))?;
    if u64::from(w) * u64::from(h) > 4_000_000 {
        return Err(format!(
            "is {w}x{h} pixels; signatures are at most 4 megapixels"
        ));
    }
    Ok(bytes)
}
