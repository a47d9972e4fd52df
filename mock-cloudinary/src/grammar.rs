//! Cloudinary's delivery-URL grammar: parsing
//! `/{cloud}/{image|raw}/upload[/{transformation}...][/v{version}]/{public_id}[.{ext}]`.
//!
//! A path segment is a transformation when every comma-separated part of it
//! looks like `key_value` with a key of one to three lowercase letters; the
//! first segment that does not (or the segment after `v{version}`) starts the
//! public id. Keys outside the supported set answer 400, as Cloudinary does
//! for an invalid component.

use crate::error::DeliveryError;

/// Image or raw (non-image file) delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `/image/upload/...`
    Image,
    /// `/raw/upload/...`
    Raw,
}

impl ResourceType {
    /// The URL and directory name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Image => "image",
            ResourceType::Raw => "raw",
        }
    }

    /// Parse `image` or `raw`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(ResourceType::Image),
            "raw" => Some(ResourceType::Raw),
            _ => None,
        }
    }
}

/// The resource type of an upload URL: a delivery type, or `auto` (image
/// when the bytes are an image the fake can serve, raw otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadType {
    /// `/image/upload`
    Image,
    /// `/raw/upload`
    Raw,
    /// `/auto/upload`
    Auto,
}

impl UploadType {
    /// Parse `image`, `raw` or `auto`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(UploadType::Image),
            "raw" => Some(UploadType::Raw),
            "auto" => Some(UploadType::Auto),
            _ => None,
        }
    }
}

/// Output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (`.jpg`, `.jpeg`, `f_jpg`).
    Jpeg,
    /// PNG (`.png`).
    Png,
}

impl Format {
    /// The MIME type served.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }

    /// The extension used in URLs and upload answers.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        match ext {
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            _ => None,
        }
    }
}

/// A width or height: pixels, or a fraction of the current size
/// (`w_0.5`), kept in thousandths so steps stay hashable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dim {
    /// Absolute pixels.
    Px(u32),
    /// Thousandths of the current dimension.
    PerMille(u32),
}

impl Dim {
    /// Resolve against the current size; at least 1.
    pub fn resolve(self, current: u32) -> u32 {
        match self {
            Dim::Px(px) => px.max(1),
            Dim::PerMille(pm) => ((u64::from(current) * u64::from(pm) + 500) / 1000).max(1) as u32,
        }
    }
}

/// Crop mode of one component (`c_...`); `Scale` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Crop {
    /// Exact size, aspect ratio changes if both dimensions are given.
    #[default]
    Scale,
    /// Fit inside the box keeping aspect ratio; may upscale.
    Fit,
    /// Like `Fit` but never upscales.
    Limit,
    /// Cover the box keeping aspect ratio, then crop the centre to it.
    Fill,
}

/// One comma-joined component, e.g. `w_800,h_600,c_fill,q_70`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Step {
    /// `w_`
    pub width: Option<Dim>,
    /// `h_`
    pub height: Option<Dim>,
    /// `c_`
    pub crop: Crop,
    /// `q_1..100`; `q_auto` is recorded as 80.
    pub quality: Option<u8>,
    /// `f_jpg` forces JPEG; `f_auto` keeps the requested format.
    pub format: Option<Format>,
    /// `a_exif` or `a_ignore`.
    pub angle: Option<Angle>,
}

/// What `a_` says about the source's EXIF orientation. Cloudinary turns a
/// derived image upright by its EXIF orientation by default (as if every
/// chain began with `a_exif`); `a_ignore` anywhere in the chain keeps the
/// stored pixels as they are. Numeric angles are not modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Angle {
    /// `a_exif`: turn by the EXIF orientation (the default anyway).
    Exif,
    /// `a_ignore`: do not.
    Ignore,
}

/// Whether a chain's output is turned upright by the source's EXIF
/// orientation: unless a step says `a_ignore`.
pub fn honours_exif(steps: &[Step]) -> bool {
    !steps.iter().any(|s| s.angle == Some(Angle::Ignore))
}

/// Quality used for `q_auto` (Cloudinary's `auto:good` lands near it).
pub const AUTO_QUALITY: u8 = 80;

/// A parsed delivery path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Image or raw.
    pub resource: ResourceType,
    /// The transformation chain, in order.
    pub steps: Vec<Step>,
    /// `v{version}` if present (ignored when serving, as Cloudinary does).
    pub version: Option<u64>,
    /// The public id, without the image extension (raw ids keep theirs).
    pub public_id: String,
    /// The format named by the extension of an image URL.
    pub extension: Option<Format>,
}

impl Delivery {
    /// The output format: the last `f_jpg` wins over the extension.
    pub fn requested_format(&self) -> Option<Format> {
        self.steps
            .iter()
            .rev()
            .find_map(|s| s.format)
            .or(self.extension)
    }

    /// The last quality given in the chain.
    pub fn quality(&self) -> Option<u8> {
        self.steps.iter().rev().find_map(|s| s.quality)
    }

    /// True when the chain changes nothing but (maybe) the format. An
    /// `a_` step is a transformation: the output is a derived image,
    /// turned by EXIF (or not) and without the source's metadata.
    pub fn is_untransformed(&self) -> bool {
        self.steps.iter().all(|s| {
            s.width.is_none() && s.height.is_none() && s.quality.is_none() && s.angle.is_none()
        })
    }
}

/// Outcome of matching a path against the delivery grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not a delivery URL of this cloud at all.
    NotDelivery,
    /// A delivery URL whose transformation is invalid (400).
    Invalid(DeliveryError),
    /// A well-formed delivery URL.
    Ok(Delivery),
}

/// Parse a request path (no query) against the grammar for `cloud`.
pub fn parse_delivery(cloud: &str, path: &str) -> Parsed {
    let Some(rest) = path.strip_prefix('/').and_then(|p| p.strip_prefix(cloud)) else {
        return Parsed::NotDelivery;
    };
    let mut segments = rest.split('/');
    if segments.next() != Some("") {
        return Parsed::NotDelivery;
    }
    let Some(resource) = segments.next().and_then(ResourceType::parse) else {
        return Parsed::NotDelivery;
    };
    if segments.next() != Some("upload") {
        return Parsed::NotDelivery;
    }
    let segments: Vec<&str> = segments.collect();
    let mut steps = Vec::new();
    let mut version = None;
    let mut index = 0;
    while index < segments.len() - usize::from(!segments.is_empty()) {
        let segment = segments[index];
        if let Some(v) = parse_version(segment) {
            version = Some(v);
            index += 1;
            break;
        }
        if !looks_like_transformation(segment) {
            break;
        }
        match parse_step(segment) {
            Ok(step) => steps.push(step),
            Err(err) => return Parsed::Invalid(err),
        }
        index += 1;
    }
    let id_path = segments[index.min(segments.len())..].join("/");
    if id_path.is_empty()
        || id_path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Parsed::NotDelivery;
    }
    let (public_id, extension) = match resource {
        ResourceType::Raw => (id_path, None),
        ResourceType::Image => split_extension(&id_path),
    };
    if resource == ResourceType::Raw && !steps.is_empty() {
        return Parsed::Invalid(DeliveryError::InvalidTransformation(
            "raw files cannot be transformed".into(),
        ));
    }
    Parsed::Ok(Delivery {
        resource,
        steps,
        version,
        public_id,
        extension,
    })
}

fn split_extension(id_path: &str) -> (String, Option<Format>) {
    let file = id_path.rsplit('/').next().unwrap_or(id_path);
    if let Some((_, ext)) = file.rsplit_once('.')
        && let Some(format) = Format::from_extension(&ext.to_ascii_lowercase())
    {
        let stem = &id_path[..id_path.len() - ext.len() - 1];
        return (stem.to_string(), Some(format));
    }
    (id_path.to_string(), None)
}

fn parse_version(segment: &str) -> Option<u64> {
    let digits = segment.strip_prefix('v')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn looks_like_transformation(segment: &str) -> bool {
    segment.split(',').all(|part| match part.split_once('_') {
        Some((key, _)) => {
            (1..=3).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_lowercase())
        }
        None => false,
    })
}

/// Parse one component such as `w_800,h_600,c_fill`.
pub fn parse_step(segment: &str) -> Result<Step, DeliveryError> {
    let invalid = || DeliveryError::InvalidTransformation(segment.to_string());
    let mut step = Step::default();
    for part in segment.split(',') {
        let (key, value) = part.split_once('_').ok_or_else(invalid)?;
        match key {
            "w" => step.width = Some(parse_dim(value).ok_or_else(invalid)?),
            "h" => step.height = Some(parse_dim(value).ok_or_else(invalid)?),
            "c" => {
                step.crop = match value {
                    "scale" => Crop::Scale,
                    "fit" => Crop::Fit,
                    "limit" => Crop::Limit,
                    "fill" => Crop::Fill,
                    _ => return Err(invalid()),
                }
            }
            "q" => {
                step.quality = Some(match value {
                    "auto" | "auto:good" | "auto:eco" | "auto:best" | "auto:low" => AUTO_QUALITY,
                    _ => value
                        .parse::<u8>()
                        .ok()
                        .filter(|q| (1..=100).contains(q))
                        .ok_or_else(invalid)?,
                })
            }
            "a" => {
                step.angle = Some(match value {
                    "exif" => Angle::Exif,
                    "ignore" => Angle::Ignore,
                    _ => return Err(invalid()),
                })
            }
            "f" => {
                step.format = match value {
                    "jpg" | "jpeg" => Some(Format::Jpeg),
                    "auto" => None,
                    _ => return Err(invalid()),
                }
            }
            _ => return Err(invalid()),
        }
    }
    Ok(step)
}

fn parse_dim(value: &str) -> Option<Dim> {
    if let Ok(px) = value.parse::<u32>() {
        return (px > 0).then_some(Dim::Px(px));
    }
    let fraction: f64 = value.parse().ok()?;
    (fraction > 0.0 && fraction <= 1.0).then(|| Dim::PerMille((fraction * 1000.0).round() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> Delivery {
        match parse_delivery("demo", path) {
            Parsed::Ok(d) => d,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn plain_image_url_has_no_steps() {
        let d = ok("/demo/image/upload/oomlab/camera-1.jpg");
        assert_eq!(d.public_id, "oomlab/camera-1");
        assert_eq!(d.extension, Some(Format::Jpeg));
        assert!(d.steps.is_empty());
    }

    #[test]
    fn chained_steps_and_version_are_parsed() {
        let d = ok("/demo/image/upload/w_800,c_limit/q_70/v123/a/b_c/x.png");
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.steps[0].width, Some(Dim::Px(800)));
        assert_eq!(d.steps[0].crop, Crop::Limit);
        assert_eq!(d.quality(), Some(70));
        assert_eq!(d.version, Some(123));
        assert_eq!(d.public_id, "a/b_c/x");
        assert_eq!(d.requested_format(), Some(Format::Png));
    }

    #[test]
    fn raw_ids_keep_their_extension() {
        let d = ok("/demo/raw/upload/v1/reports/r1.pdf");
        assert_eq!(d.resource, ResourceType::Raw);
        assert_eq!(d.public_id, "reports/r1.pdf");
    }

    #[test]
    fn unknown_or_bad_components_are_invalid() {
        for path in [
            "/demo/image/upload/e_sepia/x.jpg",
            "/demo/image/upload/w_abc/x.jpg",
            "/demo/image/upload/c_crazy/x.jpg",
            "/demo/image/upload/q_101/x.jpg",
            "/demo/image/upload/w_100,zz_1/x.jpg",
        ] {
            assert!(
                matches!(parse_delivery("demo", path), Parsed::Invalid(_)),
                "{path}"
            );
        }
    }

    #[test]
    fn other_paths_are_not_delivery() {
        for path in [
            "/other/image/upload/x.jpg",
            "/demo/video/upload/x.mp4",
            "/demo/image/upload/",
            "/demo/image/upload/a/../b.jpg",
            "/",
        ] {
            assert_eq!(parse_delivery("demo", path), Parsed::NotDelivery, "{path}");
        }
    }
}
