"""POST /api/photos: one photo, forwarded to Cloudinary."""

from cloudinary.exceptions import Error as CloudinaryError
from flask import Blueprint, current_app, request

from .. import storage
from .errors import ApiError

bp = Blueprint("photos", __name__)

def _is_jpeg_or_png(stream):
    head = stream.read(8)
    stream.seek(0)
    return head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG")


@bp.post("/photos")
def upload_photo():
    photo = request.files.get("photo")
    if photo is None or not photo.filename:
        raise ApiError(400, "missing_field", "multipart field 'photo' is required")
    if not _is_jpeg_or_png(photo.stream):
        raise ApiError(415, "unsupported_media_type", "photo must be a JPEG or PNG")
    try:
        answer = storage.upload_photo(photo, current_app.config["CLOUDINARY_FOLDER"])
    except CloudinaryError as err:
        current_app.logger.warning("cloudinary upload failed: %s", err)
        raise ApiError(502, "upload_failed", f"Cloudinary refused the photo: {err}") from err
    return {
        "url": answer["secure_url"],
        "public_id": answer["public_id"],
        "bytes": answer["bytes"],
        "width": answer.get("width"),
        "height": answer.get("height"),
    }
