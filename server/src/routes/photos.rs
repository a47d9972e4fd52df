//! `POST /api/photos`: a photo from the browser, forwarded to Cloudinary.

use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use bytes::BytesMut;
use serde::Serialize;

use crate::app::AppState;
use crate::error::ApiError;

#[derive(Debug, Serialize)]
pub struct UploadedPhoto {
    pub url: String,
    pub public_id: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

fn multipart_error(e: MultipartError, limit: u64) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!(
            "the photo is larger than {} bytes (http.max_upload_bytes)",
            limit
        ))
    } else {
        ApiError::InvalidMultipart(format!(
            "the upload is not valid multipart: {}",
            e.body_text()
        ))
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
        let mut buf = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the photo is larger than {limit} bytes (http.max_upload_bytes)"
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        let data = buf.freeze();
        let format = image::guess_format(&data).ok();
        let (content_type, format) = match format {
            Some(image::ImageFormat::Jpeg) => ("image/jpeg", image::ImageFormat::Jpeg),
            Some(image::ImageFormat::Png) => ("image/png", image::ImageFormat::Png),
            _ => {
                return Err(ApiError::UnsupportedMedia(
                    "the photo is not a JPEG or PNG image".into(),
                ));
            }
        };
        let (width, height) =
            image::ImageReader::with_format(std::io::Cursor::new(&data[..]), format)
                .into_dimensions()
                .map_err(|e| {
                    ApiError::UnsupportedMedia(format!(
                        "the photo's image header does not read: {e}"
                    ))
                })?;
        if u64::from(width) * u64::from(height) > state.settings.limits.max_photo_pixels {
            return Err(ApiError::invalid(
                "photo_too_many_pixels",
                format!(
                    "the photo is {width}x{height} pixels, over the {}-pixel cap (limits.max_photo_pixels)",
                    state.settings.limits.max_photo_pixels
                ),
            ));
        }
        let len = data.len() as u64;
        let answer = state
            .cloudinary
            .upload(
                "image",
                &file_name,
                content_type,
                data,
                &state.settings.photos,
            )
            .await
            .map_err(|e| ApiError::Upstream(format!("{e:#}")))?;
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
