"""Cloudinary: photo uploads, report uploads, which photo URLs are ours.

The SDK configures itself from CLOUDINARY_URL on import
(`cloudinary://key:secret@cloud`, optionally `?upload_prefix=http://host:port`
to talk to another API host, such as a fake Cloudinary in tests).
"""

import cloudinary
import cloudinary.uploader


def init_app(app):
    prefix = app.config["CLOUDINARY_UPLOAD_PREFIX"]
    if prefix:
        cloudinary.config(upload_prefix=prefix.rstrip("/"))
    config = cloudinary.config()
    if not config.cloud_name:
        raise RuntimeError("CLOUDINARY_URL is not set (cloudinary://key:secret@cloud_name)")
    # Photos of a submission must be ours: the job downloads them, and
    # downloading arbitrary URLs would be a server-side request forgery.
    delivery = (config.upload_prefix or "https://res.cloudinary.com").rstrip("/")
    app.config["PHOTO_URL_PREFIXES"] = tuple(
        f"{base}/{config.cloud_name}/image/upload/"
        for base in {delivery, delivery.replace("http://", "https://", 1)}
    )


def upload_photo(file_storage, folder):
    """Forward an uploaded photo (werkzeug FileStorage) to Cloudinary."""
    return cloudinary.uploader.upload(
        file_storage.stream,
        filename=file_storage.filename or "photo.jpg",
        resource_type="image",
        folder=folder,
    )


def upload_report(data, public_id):
    """Upload a finished report (bytes) as a raw file; returns its URL."""
    answer = cloudinary.uploader.upload(
        data, resource_type="raw", public_id=public_id, filename=public_id.rsplit("/", 1)[-1]
    )
    return answer["secure_url"]
