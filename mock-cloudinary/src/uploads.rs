//! The upload API's heavy half: the multipart body's `file` field, given as
//! a file, a base64 `data:` URI or a remote URL on loopback, streamed to a
//! file on disk (never held in memory), probed, then renamed to its public
//! id's path.
//!
//! Fields as the official SDKs send them: `file`, `public_id`, `folder`,
//! `upload_preset`, `use_filename`, `unique_filename`; the signature fields
//! (`api_key`, `timestamp`, `signature`, `signature_algorithm`) and all
//! others are read and ignored. The SDKs send a file path's bytes as a
//! multipart file, and a URL or data URI as a plain text field.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::Stream;
use tokio::io::AsyncWriteExt;

use crate::datauri;
use crate::error::UploadError;
use crate::grammar::{ResourceType, UploadType};
use crate::mocks::UploadRecord;
use crate::remote;
use crate::store::Store;
use crate::transform::sniff;

/// Largest accepted file, bytes.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Largest accepted text field, bytes.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Versions start here (a plausible Cloudinary timestamp) plus the upload's
/// sequence number, so they are deterministic.
pub const VERSION_BASE: u64 = 1_700_000_000;

/// An upload preset defined on the fake: what it adds to an upload that
/// names it. Explicit upload fields win over the preset's, as on Cloudinary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadPreset {
    /// Folder for uploads that give none.
    pub folder: Option<String>,
}

/// What an upload needs from the fake besides its body.
pub struct UploadContext<'a> {
    /// Where files go.
    pub store: &'a Store,
    /// Presets by name; an upload naming another is refused.
    pub presets: &'a HashMap<String, UploadPreset>,
    /// This upload's sequence number (temp names, version, generated id).
    pub seq: u64,
    /// The fake's seed (generated ids).
    pub seed: u64,
}

/// Removes a temporary file unless disarmed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// How the `file` field came.
enum FileField {
    /// Bytes, already in the temp file; the client's file name if any.
    Bytes(Option<String>),
    /// A data URI, in the `.uri` temp file, to decode.
    DataUri,
    /// A URL to fetch.
    Url(String),
}

/// The text fields that matter.
#[derive(Default)]
struct Fields {
    public_id: Option<String>,
    folder: Option<String>,
    upload_preset: Option<String>,
    use_filename: bool,
    unique_filename: bool,
}

/// Receive one multipart upload to `/v1_1/{cloud}/{kind}/upload`.
pub async fn receive<S>(
    ctx: UploadContext<'_>,
    kind: UploadType,
    content_type: &str,
    body: S,
) -> Result<UploadRecord, UploadError>
where
    S: Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static,
{
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| UploadError::BadRequest(e.to_string()))?;
    let mut multipart = multer::Multipart::new(body, boundary);
    let incoming = ctx.store.upload_dir().join(".incoming");
    let temp_path = incoming.join(format!("{}.part", ctx.seq));
    let uri_path = incoming.join(format!("{}.uri", ctx.seq));
    let mut temp = TempFile(None);
    let _uri_temp = TempFile(Some(uri_path.clone()));
    let mut fields = Fields {
        unique_filename: true,
        ..Fields::default()
    };
    let mut file = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad_request)? {
        match field.name() {
            Some("file") => {
                temp.0 = Some(temp_path.clone());
                file = Some(receive_file(&mut field, &temp_path, &uri_path).await?);
            }
            Some(name @ ("public_id" | "folder" | "upload_preset")) => {
                let name = name.to_string();
                let text = Some(read_text(&mut field).await?).filter(|t| !t.is_empty());
                match name.as_str() {
                    "public_id" => fields.public_id = text,
                    "folder" => fields.folder = text,
                    _ => fields.upload_preset = text,
                }
            }
            Some(name @ ("use_filename" | "unique_filename")) => {
                let is_use = name == "use_filename";
                let on = matches!(read_text(&mut field).await?.as_str(), "true" | "1");
                if is_use {
                    fields.use_filename = on;
                } else {
                    fields.unique_filename = on;
                }
            }
            _ => while field.chunk().await.map_err(bad_request)?.is_some() {},
        }
    }
    let file =
        file.ok_or_else(|| UploadError::BadRequest("Missing required parameter - file".into()))?;
    if let Some(name) = &fields.upload_preset {
        let preset = ctx
            .presets
            .get(name)
            .ok_or_else(|| UploadError::PresetNotFound(name.clone()))?;
        if fields.folder.is_none() {
            fields.folder.clone_from(&preset.folder);
        }
    }
    let (size, client_name, mime) = match file {
        FileField::Bytes(name) => (file_len(&temp_path).await?, name, None),
        FileField::DataUri => {
            let (src, dst) = (uri_path.clone(), temp_path.clone());
            let decoded = tokio::task::spawn_blocking(move || {
                datauri::decode_file(&src, &dst, MAX_FILE_BYTES)
            })
            .await
            .map_err(|e| UploadError::Unexpected(e.into()))?
            .map_err(|e| match e {
                datauri::DataUriError::Io(io) => unexpected(io),
                other => UploadError::BadRequest(other.to_string()),
            })?;
            (decoded.bytes, None, decoded.mime)
        }
        FileField::Url(url) => {
            let uri = remote::check(&url)?;
            let size = remote::fetch_to_file(&uri, &temp_path, MAX_FILE_BYTES).await?;
            (size, remote::file_name(&uri), None)
        }
    };
    // The SDKs send a file path as the part's file name; Cloudinary reports
    // the base name only.
    let original = client_name
        .as_deref()
        .and_then(|name| name.rsplit(['/', '\\']).next())
        .filter(|name| !name.is_empty())
        .unwrap_or("file")
        .to_string();
    let (stem, mut extension) = match original.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), Some(ext.to_ascii_lowercase())),
        _ => (original.clone(), None),
    };
    if extension.is_none() {
        extension = mime
            .as_deref()
            .and_then(datauri::extension_of)
            .map(str::to_string);
    }
    let path = temp_path.clone();
    let probed = tokio::task::spawn_blocking(move || probe(&path))
        .await
        .map_err(|e| UploadError::Unexpected(e.into()))??;
    let (resource, width, height, format) = match (kind, probed.image) {
        (UploadType::Image | UploadType::Auto, Some((w, h, f))) => {
            (ResourceType::Image, Some(w), Some(h), Some(f.to_string()))
        }
        (UploadType::Image, None) => return Err(UploadError::InvalidImage),
        (UploadType::Raw, _) | (UploadType::Auto, None) => {
            (ResourceType::Raw, None, None, extension.clone())
        }
    };
    let id = final_public_id(
        &fields,
        &stem,
        resource,
        extension.as_deref(),
        ctx.seq,
        ctx.seed,
    );
    let dest = ctx
        .store
        .stored_path(resource, &id)
        .ok_or_else(|| UploadError::BadPublicId(id.clone()))?;
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(unexpected)?;
    }
    tokio::fs::rename(&temp_path, &dest)
        .await
        .map_err(unexpected)?;
    temp.0 = None;
    Ok(UploadRecord {
        resource_type: resource.as_str().to_string(),
        public_id: id,
        version: VERSION_BASE + ctx.seq,
        bytes: size,
        width,
        height,
        format,
        original_filename: stem,
        etag: probed.etag,
    })
}

/// Store the `file` field: a multipart file goes to `temp` as it is; a
/// text field is a data URI (to `uri`, decoded later), a URL, or else the
/// bytes themselves.
async fn receive_file(
    field: &mut multer::Field<'_>,
    temp: &Path,
    uri: &Path,
) -> Result<FileField, UploadError> {
    let name = field.file_name().map(str::to_string);
    // Enough of the start to tell a data URI or a URL from bytes.
    let mut head = Vec::new();
    let mut ended = false;
    if name.is_none() {
        while head.len() < 16 {
            match field.chunk().await.map_err(bad_request)? {
                Some(chunk) => head.extend_from_slice(&chunk),
                None => {
                    ended = true;
                    break;
                }
            }
        }
    }
    let text_kind = name.is_none().then(|| classify(&head)).flatten();
    match text_kind {
        Some(TextKind::Url) => {
            let mut text = head;
            if !ended {
                append_text(field, &mut text).await?;
            }
            let url = String::from_utf8(text)
                .map_err(|_| UploadError::BadRequest("file URL is not UTF-8".into()))?;
            Ok(FileField::Url(url.trim().to_string()))
        }
        Some(TextKind::DataUri) => {
            // Base64 is 4/3 of the decoded size, plus the header.
            let cap = MAX_FILE_BYTES / 3 * 4 + 1024;
            write_field(field, head, ended, uri, cap).await?;
            Ok(FileField::DataUri)
        }
        None => {
            write_field(field, head, ended, temp, MAX_FILE_BYTES).await?;
            Ok(FileField::Bytes(name))
        }
    }
}

enum TextKind {
    DataUri,
    Url,
}

/// A text `file` field: `data:` or a URL scheme the SDKs recognise.
fn classify(head: &[u8]) -> Option<TextKind> {
    let lower = head.to_ascii_lowercase();
    if lower.starts_with(b"data:") {
        return Some(TextKind::DataUri);
    }
    let url_schemes: [&[u8]; 5] = [b"http:", b"https:", b"ftp:", b"s3:", b"gs:"];
    url_schemes
        .iter()
        .any(|s| lower.starts_with(s))
        .then_some(TextKind::Url)
}

async fn write_field(
    field: &mut multer::Field<'_>,
    head: Vec<u8>,
    ended: bool,
    path: &Path,
    cap: u64,
) -> Result<(), UploadError> {
    let mut file = tokio::fs::File::create(path).await.map_err(unexpected)?;
    let too_large = || UploadError::BadRequest(format!("File size too large: over {cap} bytes"));
    let mut written = head.len() as u64;
    file.write_all(&head).await.map_err(unexpected)?;
    if !ended {
        while let Some(chunk) = field.chunk().await.map_err(bad_request)? {
            written += chunk.len() as u64;
            if written > cap {
                return Err(too_large());
            }
            file.write_all(&chunk).await.map_err(unexpected)?;
        }
    }
    if written > cap {
        return Err(too_large());
    }
    file.flush().await.map_err(unexpected)?;
    Ok(())
}

async fn append_text(field: &mut multer::Field<'_>, text: &mut Vec<u8>) -> Result<(), UploadError> {
    while let Some(chunk) = field.chunk().await.map_err(bad_request)? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_FIELD_BYTES {
            return Err(UploadError::BadRequest("text field too long".into()));
        }
    }
    Ok(())
}

async fn read_text(field: &mut multer::Field<'_>) -> Result<String, UploadError> {
    let mut text = Vec::new();
    append_text(field, &mut text).await?;
    String::from_utf8(text).map_err(|_| UploadError::BadRequest("text field is not UTF-8".into()))
}

async fn file_len(path: &Path) -> Result<u64, UploadError> {
    Ok(tokio::fs::metadata(path).await.map_err(unexpected)?.len())
}

/// What the stored bytes are.
struct Probed {
    /// Width, height and format, when the bytes are a JPEG or PNG.
    image: Option<(u32, u32, &'static str)>,
    /// A content hash, 32 hex digits.
    etag: String,
}

/// Read the image header (no pixels decoded) and hash the content.
fn probe(path: &Path) -> Result<Probed, UploadError> {
    let mut magic = [0u8; 8];
    let read = std::io::Read::read(
        &mut std::fs::File::open(path).map_err(unexpected)?,
        &mut magic,
    )
    .map_err(unexpected)?;
    let image = match sniff(&magic[..read]) {
        Some(format) => image::ImageReader::open(path)
            .map_err(unexpected)?
            .with_guessed_format()
            .map_err(unexpected)?
            .into_dimensions()
            .ok()
            .map(|(w, h)| (w, h, format.extension())),
        None => None,
    };
    Ok(Probed {
        image,
        etag: content_hash(path).map_err(unexpected)?,
    })
}

/// Two FNV-1a hashes (different offsets) of the file: a stable 128-bit
/// fingerprint for `etag` (Cloudinary's is an MD5; clients only compare it).
fn content_hash(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut a, mut b) = (0xcbf2_9ce4_8422_2325u64, 0x8422_2325_cbf2_9ce4u64);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &byte in &buf[..n] {
            a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            b = (b ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{a:016x}{b:016x}"))
}

/// `folder/public_id`; else the file name with `use_filename` (plus a
/// suffix unless `unique_filename` is false); else a generated id. Raw ids
/// keep the file's extension, as on Cloudinary.
fn final_public_id(
    fields: &Fields,
    stem: &str,
    resource: ResourceType,
    extension: Option<&str>,
    seq: u64,
    seed: u64,
) -> String {
    let generated = format!(
        "{:020x}",
        (seed.rotate_left(17) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as u128 * 31
            + u128::from(seq)
    );
    let id = match &fields.public_id {
        Some(id) => id.clone(),
        None => {
            let base = if fields.use_filename {
                let clean: String = stem
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                if fields.unique_filename {
                    format!("{clean}_{}", &generated[generated.len() - 6..])
                } else {
                    clean
                }
            } else {
                generated
            };
            match (resource, extension) {
                (ResourceType::Raw, Some(ext)) => format!("{base}.{ext}"),
                _ => base,
            }
        }
    };
    match fields
        .folder
        .as_deref()
        .map(|f| f.trim_matches('/'))
        .filter(|f| !f.is_empty())
    {
        Some(folder) => format!("{folder}/{id}"),
        None => id,
    }
}

fn bad_request(err: multer::Error) -> UploadError {
    UploadError::BadRequest(err.to_string())
}

fn unexpected(err: std::io::Error) -> UploadError {
    UploadError::Unexpected(err.into())
}
