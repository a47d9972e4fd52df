//! The upload API's heavy half: a multipart body streamed to a file on
//! disk, never held in memory, then renamed to its public id's path.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::Stream;
use tokio::io::AsyncWriteExt;

use crate::error::UploadError;
use crate::grammar::ResourceType;
use crate::mocks::UploadRecord;
use crate::store::Store;
use crate::transform::sniff;

/// Largest accepted file, bytes.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Largest accepted text field, bytes.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Versions start here (a plausible Cloudinary timestamp) plus the upload's
/// sequence number, so they are deterministic.
const VERSION_BASE: u64 = 1_700_000_000;

/// Removes a temporary file unless disarmed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Receive one multipart upload: fields `file`, optional `public_id` and
/// `folder` (others are ignored, as signature fields are).
pub async fn receive<S>(
    store: &Store,
    resource: ResourceType,
    content_type: &str,
    body: S,
    seq: u64,
    seed: u64,
) -> Result<UploadRecord, UploadError>
where
    S: Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static,
{
    let boundary =
        multer::parse_boundary(content_type).map_err(|e| UploadError::BadRequest(e.to_string()))?;
    let mut multipart = multer::Multipart::new(body, boundary);
    let temp_path = store
        .upload_dir()
        .join(".incoming")
        .join(format!("{seq}.part"));
    let mut temp = TempFile(None);
    let (mut public_id, mut folder, mut filename, mut size) = (None, None, None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(bad_request)? {
        match field.name() {
            Some("file") => {
                filename = field.file_name().map(str::to_string);
                temp.0 = Some(temp_path.clone());
                let mut file = tokio::fs::File::create(&temp_path)
                    .await
                    .map_err(unexpected)?;
                let mut written = 0u64;
                while let Some(chunk) = field.chunk().await.map_err(bad_request)? {
                    written += chunk.len() as u64;
                    if written > MAX_FILE_BYTES {
                        return Err(UploadError::BadRequest(format!(
                            "file larger than {MAX_FILE_BYTES} bytes"
                        )));
                    }
                    file.write_all(&chunk).await.map_err(unexpected)?;
                }
                file.flush().await.map_err(unexpected)?;
                size = Some(written);
            }
            Some(name @ ("public_id" | "folder")) => {
                let is_id = name == "public_id";
                let text = read_text(&mut field).await?;
                if is_id {
                    public_id = Some(text);
                } else {
                    folder = Some(text);
                }
            }
            _ => while field.chunk().await.map_err(bad_request)?.is_some() {},
        }
    }
    let size = size.ok_or_else(|| UploadError::BadRequest("missing file field".into()))?;
    let original = filename.unwrap_or_else(|| "file".into());
    let (stem, extension) = match original.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), Some(ext.to_ascii_lowercase())),
        _ => (original.clone(), None),
    };
    let (width, height, format) = match resource {
        ResourceType::Image => {
            let path = temp_path.clone();
            let (w, h, f) = tokio::task::spawn_blocking(move || probe_image(&path))
                .await
                .map_err(|e| UploadError::Unexpected(e.into()))??;
            (Some(w), Some(h), Some(f.to_string()))
        }
        ResourceType::Raw => (None, None, extension.clone()),
    };
    let id = final_public_id(public_id, folder, resource, extension.as_deref(), seq, seed);
    let dest = store
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
        version: VERSION_BASE + seq,
        bytes: size,
        width,
        height,
        format,
        original_filename: stem,
    })
}

async fn read_text(field: &mut multer::Field<'_>) -> Result<String, UploadError> {
    let mut text = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(bad_request)? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_FIELD_BYTES {
            return Err(UploadError::BadRequest("text field too long".into()));
        }
    }
    String::from_utf8(text).map_err(|_| UploadError::BadRequest("text field is not UTF-8".into()))
}

/// Width, height and format from the image header, as Cloudinary reports.
fn probe_image(path: &Path) -> Result<(u32, u32, &'static str), UploadError> {
    let mut magic = [0u8; 8];
    let read = std::io::Read::read(
        &mut std::fs::File::open(path).map_err(unexpected)?,
        &mut magic,
    )
    .map_err(unexpected)?;
    let format = sniff(&magic[..read]).ok_or(UploadError::InvalidImage)?;
    let (width, height) = image::ImageReader::open(path)
        .map_err(unexpected)?
        .with_guessed_format()
        .map_err(unexpected)?
        .into_dimensions()
        .map_err(|_| UploadError::InvalidImage)?;
    Ok((width, height, format.extension()))
}

/// `folder/public_id`, or a generated id; raw ids keep the file's extension.
fn final_public_id(
    public_id: Option<String>,
    folder: Option<String>,
    resource: ResourceType,
    extension: Option<&str>,
    seq: u64,
    seed: u64,
) -> String {
    let id = public_id.filter(|s| !s.is_empty()).unwrap_or_else(|| {
        let generated = format!(
            "{:020x}",
            (seed.rotate_left(17) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)) as u128 * 31
                + u128::from(seq)
        );
        match (resource, extension) {
            (ResourceType::Raw, Some(ext)) => format!("{generated}.{ext}"),
            _ => generated,
        }
    });
    match folder
        .map(|f| f.trim_matches('/').to_string())
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
