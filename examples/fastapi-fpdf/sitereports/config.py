"""Settings from the environment (12-factor, as on Render)."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    data_dir: str
    secret_key: str
    report_workers: int
    max_photos: int
    max_photo_bytes: int
    cloudinary_folder: str

    @property
    def database(self) -> str:
        return os.path.join(self.data_dir, "sitereports.sqlite3")

    @property
    def photo_dir(self) -> str:
        return os.path.join(self.data_dir, "photos")

    @property
    def report_dir(self) -> str:
        return os.path.join(self.data_dir, "reports")


def load_settings(need_secret: bool = True) -> Settings:
    secret = os.environ.get("SECRET_KEY", "")
    if need_secret and not secret:
        raise RuntimeError("SECRET_KEY is not set: the session cookie is signed with it")
    return Settings(
        data_dir=os.path.abspath(os.environ.get("DATA_DIR", "instance")),
        secret_key=secret,
        # Report jobs at once in each worker process.
        report_workers=int(os.environ.get("REPORT_WORKERS", "1")),
        max_photos=int(os.environ.get("MAX_PHOTOS", "100")),
        max_photo_bytes=int(os.environ.get("MAX_PHOTO_BYTES", str(10 * 1024 * 1024))),
        cloudinary_folder=os.environ.get("CLOUDINARY_FOLDER", "site-reports"),
    )
