"""Cloudinary, through the official SDK.

The SDK configures itself from the environment when imported: either
CLOUDINARY_URL (`cloudinary://key:secret@cloud`, `?upload_prefix=` for another
API host) or CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY, CLOUDINARY_API_SECRET
(and CLOUDINARY_UPLOAD_PREFIX). Reports are uploaded as raw files.
"""

import cloudinary
import cloudinary.uploader


def check_configured() -> None:
    config = cloudinary.config()
    if not config.cloud_name or not config.api_key:
        raise RuntimeError(
            "Cloudinary is not configured: set CLOUDINARY_URL, or CLOUDINARY_CLOUD_NAME, "
            "CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET"
        )


def upload_report(path: str, public_id: str, folder: str) -> str:
    """Upload a finished report file; returns its delivery URL."""
    answer = cloudinary.uploader.upload(
        path, resource_type="raw", public_id=public_id, folder=folder, overwrite=True
    )
    return answer["secure_url"]
