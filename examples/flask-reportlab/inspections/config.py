"""Settings from the environment (12-factor, as on Render)."""

import os


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def _float(name, default):
    value = os.environ.get(name)
    return float(value) if value else default


def load_config():
    data_dir = os.path.abspath(os.environ.get("DATA_DIR", "instance"))
    photo_source = os.environ.get("REPORT_PHOTO_SOURCE", "memory")
    if photo_source not in ("memory", "path"):
        raise RuntimeError(
            f"REPORT_PHOTO_SOURCE={photo_source!r}: use 'memory' (photos handed to "
            "reportlab as in-memory files, as the app did) or 'path' (temp files)"
        )
    return {
        "DATA_DIR": data_dir,
        "DATABASE_URL": os.environ.get(
            "DATABASE_URL", f"sqlite:///{os.path.join(data_dir, 'inspections.sqlite3')}"
        ),
        # The deployed app's pool: 10 kept, 20 overflow.
        "DB_POOL_SIZE": _int("DB_POOL_SIZE", 10),
        "DB_MAX_OVERFLOW": _int("DB_MAX_OVERFLOW", 20),
        # Background report jobs at once (the app ran 2, later 1).
        "REPORT_WORKERS": _int("REPORT_WORKERS", 2),
        # memory: each photo downloaded into an io.BytesIO handed to reportlab
        # (reportlab then decodes it to fingerprint it: the memory hog).
        # path: each photo written to a temp .jpg and reportlab given the path.
        "REPORT_PHOTO_SOURCE": photo_source,
        "PHOTO_TIMEOUT_S": _float("PHOTO_TIMEOUT_S", 10.0),
        "PHOTO_ATTEMPTS": _int("PHOTO_ATTEMPTS", 3),
        "PHOTO_BACKOFF_S": _float("PHOTO_BACKOFF_S", 2.0),
        "MAX_PHOTOS_PER_ITEM": _int("MAX_PHOTOS_PER_ITEM", 100),
        # Photo uploads up to 10 MB; the JSON submission is small.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 11 * 1024 * 1024),
        # The SDK reads CLOUDINARY_URL itself; an upload prefix (the API host)
        # can ride on it as ?upload_prefix=... or come from this variable.
        "CLOUDINARY_UPLOAD_PREFIX": os.environ.get("CLOUDINARY_UPLOAD_PREFIX", ""),
        "CLOUDINARY_FOLDER": os.environ.get("CLOUDINARY_FOLDER", "inspections"),
    }
