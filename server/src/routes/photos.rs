//! `POST /api/photos`: a photo from the browser, forwarded to Cloudinary.
//!
//! # Checked whole before it goes on
//! Whatever the profile, the photo is checked as its chunks arrive, in
//! constant memory ([`crate::imagecheck`]): JPEG or PNG by its first bytes
//! (else 415), every marker through the end-of-image marker or every chunk
//! through `IEND` (a file cut short or garbled is 422 `photo_invalid`), and
//! from its header the pixel cap (422 `photo_too_many_pixels`) and what
//! decoding it would hold (422 `photo_too_costly`, `jobs::cost`), those two
//! before the rest of the body is read. Nothing reaches Cloudinary until the
//! whole file has passed: a photo Cloudinary would store but no report could
//! show is refused here, with the reason, not answered 502 later.
//!
//! # Where the body waits (`http.upload_body`)
//! `buffered` (the default, as the modelled app): the body is read whole
//! into memory, checked as it arrives, and sent on from that buffer (the
//! upstream request's multipart body is a second copy).
//!
//! `spooled` (`lean`): the multipart field is written to a file under the
//! data directory (`<data_dir>/tmp`) as its chunks arrive (what a chunk holds
//! is all the memory an upload takes: tens of KB, whatever the photo's
//! size), and sent on to Cloudinary streamed from the file
//! ([`CloudinaryClient::upload_file`]). Why a file and not a pipe straight
//! into the upstream request: an upload that Cloudinary answers with a 5xx
//! or that a network error cuts is tried again (`photos.attempts`), and a
//! second attempt needs the bytes again. Buffering the body instead cost up
//! to twice the photo's size per upload in flight (the growing buffer, then
//! the multipart request's copy). A disk that is full while spooling is
//! 507 `insufficient_storage`.
//!
//! [`CloudinaryClient::upload_file`]: crate::cloudinary::CloudinaryClient::upload_file

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use crate::app::AppState;
use crate::error::ApiError;
use crate::imagecheck::{Cut, ImageKind, ImageScan, ScanError};
use crate::jobs::cost;
use crate::settings::{LimitSettings, UploadBody};

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

/// The whole-file check of an upload as its chunks arrive: JPEG or PNG,
/// markers through EOI / chunks through IEND (`crate::imagecheck`), and,
/// as soon as the header has passed, the pixel and decode-cost caps, so a
/// photo over them is refused before the rest of it is read.
struct UploadCheck<'a> {
    scan: ImageScan,
    limits: &'a LimitSettings,
    header_checked: bool,
}

impl<'a> UploadCheck<'a> {
    fn new(limits: &'a LimitSettings) -> UploadCheck<'a> {
        UploadCheck {
            scan: ImageScan::new(),
            limits,
            header_checked: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.scan.feed(chunk).map_err(scan_refusal)?;
        if !self.header_checked
            && let Some(frame) = self.scan.frame()
        {
            self.header_checked = true;
            check_caps(frame.width, frame.height, self.limits)?;
            let cost = cost::upload_decode_bytes(frame);
            if cost > self.limits.max_decode_bytes {
                return Err(ApiError::invalid(
                    "photo_too_costly",
                    format!(
                        "the photo is too costly to decode: its {}x{} {} JPEG would hold {} while decoding, over the {} cap (limits.max_decode_bytes)",
                        frame.width,
                        frame.height,
                        if frame.is_progressive() {
                            "progressive"
                        } else {
                            "baseline"
                        },
                        cost::mib(cost),
                        cost::mib(self.limits.max_decode_bytes)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The verdict once the last byte is in: MIME type, width, height.
    fn finish(self) -> Result<(&'static str, u32, u32), ApiError> {
        let scanned = self.scan.finish().map_err(scan_refusal)?;
        if let Some(cut) = scanned.cut {
            let end = match scanned.kind {
                ImageKind::Jpeg => "its end-of-image marker",
                ImageKind::Png => "its IEND chunk",
            };
            let where_ = match cut {
                Cut::Headers => "inside its headers",
                Cut::ImageData => "inside its image data",
            };
            return Err(ApiError::invalid(
                "photo_invalid",
                format!("the photo is cut short {where_} (no {end}): upload the whole file"),
            ));
        }
        let (w, h) = scanned.size.ok_or_else(|| {
            ApiError::invalid(
                "photo_invalid",
                "the photo has no readable size in its header",
            )
        })?;
        check_caps(w, h, self.limits)?;
        Ok((scanned.kind.mime(), w, h))
    }
}

fn scan_refusal(e: ScanError) -> ApiError {
    match e {
        ScanError::NotAnImage => {
            ApiError::UnsupportedMedia("the photo is not a JPEG or PNG image".into())
        }
        ScanError::Malformed(why) => {
            ApiError::invalid("photo_invalid", format!("the photo is {why}"))
        }
    }
}

fn check_caps(width: u32, height: u32, limits: &LimitSettings) -> Result<(), ApiError> {
    if u64::from(width) * u64::from(height) > limits.max_photo_pixels {
        return Err(ApiError::invalid(
            "photo_too_many_pixels",
            format!(
                "the photo is {width}x{height} pixels, over the {}-pixel cap (limits.max_photo_pixels)",
                limits.max_photo_pixels
            ),
        ));
    }
    Ok(())
}

/// Write `field` to a new file under `dir` (the data directory's `tmp`,
/// not the system's temporary directory: on a host whose `/tmp` is a small
/// tmpfs, an upload would be held in memory after all), chunk by chunk,
/// checked as it goes, refused as soon as it passes `limit` bytes. The file
/// is deleted when the returned path is dropped.
async fn spool(
    field: &mut Field<'_>,
    dir: &Path,
    limit: u64,
    check: &mut UploadCheck<'_>,
) -> Result<(tempfile::TempPath, u64), ApiError> {
    let dir = dir.to_path_buf();
    let (file, path) = super::blocking(move || {
        Ok(tempfile::Builder::new()
            .prefix("oomlab-upload-")
            .tempfile_in(&dir)?
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
        check.feed(&chunk)?;
        file.write_all(&chunk).await.map_err(spool_error)?;
    }
    file.flush().await.map_err(spool_error)?;
    Ok((path, len))
}

/// A spool write that failed: a full disk is the client's to know (507).
fn spool_error(e: std::io::Error) -> ApiError {
    ApiError::from_unexpected(anyhow::Error::new(e).context("spooling the upload"))
}

/// Read `field` whole into memory, checked as it goes, refusing it as soon
/// as it passes `limit` bytes.
async fn buffer(
    field: &mut Field<'_>,
    limit: u64,
    check: &mut UploadCheck<'_>,
) -> Result<bytes::Bytes, ApiError> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(too_large(limit));
        }
        check.feed(&chunk)?;
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Where an upload waits: in memory or in a temporary file.
enum Body {
    Memory(bytes::Bytes),
    File(tempfile::TempPath),
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
        let mut check = UploadCheck::new(&state.settings.limits);
        let (body, len) = match state.settings.http.upload_body {
            UploadBody::Spooled => {
                let (path, len) = spool(&mut field, &state.tmp_dir, limit, &mut check).await?;
                (Body::File(path), len)
            }
            UploadBody::Buffered => {
                let data = buffer(&mut field, limit, &mut check).await?;
                let len = data.len() as u64;
                (Body::Memory(data), len)
            }
        };
        // Whole, within the caps: only now does anything go to Cloudinary.
        let (content_type, width, height) = check.finish()?;
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
