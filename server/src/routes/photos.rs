//! `POST /api/photos`: a photo from the browser, forwarded to Cloudinary.
//!
//! # Where the body waits (`http.upload_body`)
//! `buffered` (the default, as the modelled app): the body is read whole
//! into memory, checked there, and sent on from that buffer (the upstream
//! request's multipart body is a second copy).
//!
//! `spooled` (`lean`): the body is spooled to disk, never held whole in
//! memory. The multipart field is written to a temporary file as its chunks arrive
//! (what a chunk holds is all the memory an upload takes: tens of KB,
//! whatever the photo's size), checked there (the `http.max_upload_bytes`
//! cap while it is written, then JPEG or PNG by its first bytes and the pixel
//! cap from the image header, read without decoding), and sent on to
//! Cloudinary streamed from the file ([`CloudinaryClient::upload_file`]).
//! Why a file and not a pipe straight into the upstream request: an upload
//! that Cloudinary answers with a 5xx or that a network error cuts is tried
//! again (`photos.attempts`), and a second attempt needs the bytes again; a
//! photo over a cap is also refused before any of it reaches Cloudinary.
//! Buffering the body instead cost up to twice the photo's size per upload in
//! flight (the growing buffer, then the multipart request's copy).
//!
//! [`CloudinaryClient::upload_file`]: crate::cloudinary::CloudinaryClient::upload_file

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::app::AppState;
use crate::error::ApiError;
use crate::settings::UploadBody;

#[derive(Debug, Serialize)]
pub struct UploadedPhoto {
    pub url: String,
    pub public_id: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the photo is larger than {limit} bytes (http.max_upload_bytes)"
    ))
}

fn multipart_error(e: MultipartError, limit: u64) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::InvalidMultipart(format!(
            "the upload is not valid multipart: {}",
            e.body_text()
        ))
    }
}

/// Write `field` to a new temporary file, chunk by chunk, refusing it as
/// soon as it passes `limit` bytes. The file is deleted when the returned
/// path is dropped.
async fn spool(field: &mut Field<'_>, limit: u64) -> Result<(tempfile::TempPath, u64), ApiError> {
    let (file, path) = super::blocking(|| {
        Ok(tempfile::Builder::new()
            .prefix("oomlab-upload-")
            .tempfile()?
            .into_parts())
    })
    .await?;
    let mut file = tokio::fs::File::from_std(file);
    let mut len = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        len += chunk.len() as u64;
        if len > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("spooling the upload: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("spooling the upload: {e}")))?;
    Ok((path, len))
}

/// Read `field` whole into memory, refusing it as soon as it passes `limit`
/// bytes.
async fn buffer(field: &mut Field<'_>, limit: u64) -> Result<bytes::Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// What a photo in memory is: its MIME type, width and height, from its
/// first bytes and its header.
fn inspect_bytes(data: &[u8]) -> Result<(&'static str, u32, u32), ApiError> {
    let (content_type, format) = match image::guess_format(data).ok() {
        Some(image::ImageFormat::Jpeg) => ("image/jpeg", image::ImageFormat::Jpeg),
        Some(image::ImageFormat::Png) => ("image/png", image::ImageFormat::Png),
        _ => {
            return Err(ApiError::UnsupportedMedia(
                "the photo is not a JPEG or PNG image".into(),
            ));
        }
    };
    let (w, h) = image::ImageReader::with_format(std::io::Cursor::new(data), format)
        .into_dimensions()
        .map_err(|e| {
            ApiError::UnsupportedMedia(format!("the photo's image header does not read: {e}"))
        })?;
    Ok((content_type, w, h))
}

/// Where an upload waits: in memory or in a temporary file.
enum Body {
    Memory(bytes::Bytes),
    File(tempfile::TempPath),
}

/// What the spooled photo is: its MIME type, width and height, read from its
/// first bytes and its image header only (never decoded, never read whole).
fn inspect(path: &Path) -> Result<(&'static str, u32, u32), ApiError> {
    let unexpected = |e: std::io::Error| {
        ApiError::Unexpected(anyhow::anyhow!("reading the spooled upload: {e}"))
    };
    let not_an_image = || ApiError::UnsupportedMedia("the photo is not a JPEG or PNG image".into());
    let mut magic = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(unexpected)?;
    let n = file.read(&mut magic).map_err(unexpected)?;
    let format = image::guess_format(&magic[..n]).map_err(|_| not_an_image())?;
    let header_error = |e: String| {
        ApiError::UnsupportedMedia(format!("the photo's image header does not read: {e}"))
    };
    let reader = BufReader::new(std::fs::File::open(path).map_err(unexpected)?);
    match format {
        image::ImageFormat::Jpeg => {
            // jpeg-decoder reads the markers up to the first scan: the
            // header, not the image (the `image` crate's JPEG reader would
            // read the whole file into memory first).
            let mut dec = jpeg_decoder::Decoder::new(reader);
            dec.read_info().map_err(|e| header_error(e.to_string()))?;
            let info = dec
                .info()
                .ok_or_else(|| header_error("no frame header".into()))?;
            Ok(("image/jpeg", u32::from(info.width), u32::from(info.height)))
        }
        image::ImageFormat::Png => {
            let (w, h) = image::ImageReader::with_format(reader, image::ImageFormat::Png)
                .into_dimensions()
                .map_err(|e| header_error(e.to_string()))?;
            Ok(("image/png", w, h))
        }
        _ => Err(not_an_image()),
    }
}

pub async fn upload_photo(
    State(state): State<Arc<AppState>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<UploadedPhoto>, ApiError> {
    let mut multipart = multipart?;
    let limit = state.settings.http.max_upload_bytes;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        if field.name() != Some("photo") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("photo.jpg").to_string();
        let (body, len, (content_type, width, height)) = match state.settings.http.upload_body {
            UploadBody::Spooled => {
                let (path, len) = spool(&mut field, limit).await?;
                let (path, found) =
                    tokio::task::spawn_blocking(move || inspect(&path).map(|found| (path, found)))
                        .await
                        .map_err(|e| ApiError::Unexpected(e.into()))??;
                (Body::File(path), len, found)
            }
            UploadBody::Buffered => {
                let data = buffer(&mut field, limit).await?;
                let found = inspect_bytes(&data)?;
                let len = data.len() as u64;
                (Body::Memory(data), len, found)
            }
        };
        if u64::from(width) * u64::from(height) > state.settings.limits.max_photo_pixels {
            return Err(ApiError::invalid(
                "photo_too_many_pixels",
                format!(
                    "the photo is {width}x{height} pixels, over the {}-pixel cap (limits.max_photo_pixels)",
                    state.settings.limits.max_photo_pixels
                ),
            ));
        }
        let photos = &state.settings.photos;
        let sent = match body {
            Body::File(path) => {
                let sent = state
                    .cloudinary
                    .upload_file("image", &file_name, content_type, &path, photos)
                    .await;
                drop(path);
                sent
            }
            Body::Memory(data) => {
                state
                    .cloudinary
                    .upload("image", &file_name, content_type, data, photos)
                    .await
            }
        };
        let answer = sent.map_err(|e| ApiError::Upstream(format!("{e:#}")))?;
        state.metrics.photo_uploads.inc();
        let url = answer
            .delivery_url()
            .ok_or_else(|| ApiError::Upstream("Cloudinary's answer has no URL".into()))?
            .to_string();
        return Ok(Json(UploadedPhoto {
            url,
            public_id: answer.public_id,
            bytes: answer.bytes.unwrap_or(len),
            width: answer.width.unwrap_or(width),
            height: answer.height.unwrap_or(height),
        }));
    }
    Err(ApiError::BadRequest(
        "the upload has no `photo` field: send multipart/form-data with the image in a field named photo".into(),
    ))
}
