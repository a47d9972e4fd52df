"""Submissions and their report jobs."""

import base64
import binascii
from datetime import timezone

import requests
from flask import Blueprint, current_app, request, url_for

from .. import db, jobs
from .errors import ApiError

bp = Blueprint("submissions", __name__)

SITE_FIELDS = ("name", "address", "client", "inspector", "date")
ITEM_TEXT_FIELDS = ("asset", "system", "description", "brand", "specification", "comments")
SIGNATURE_PREFIX = "data:image/png;base64,"


def _invalid(code, message):
    return ApiError(422, code, message)


def validate(payload, photo_prefixes, max_photos):
    """The submission as stored, or ApiError 400/422."""
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    site = payload.get("site")
    if not isinstance(site, dict):
        raise _invalid("missing_field", "site is required")
    for field in SITE_FIELDS:
        if not isinstance(site.get(field), str) or not site[field].strip():
            raise _invalid("missing_field", f"site.{field} is required")
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        raise _invalid("missing_field", "items must be a non-empty list")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid("invalid_item", f"items[{i}] must be an object")
        for field in ITEM_TEXT_FIELDS:
            if not isinstance(item.get(field, ""), str):
                raise _invalid("invalid_item", f"items[{i}].{field} must be text")
        if not isinstance(item.get("quantity", 0), int):
            raise _invalid("invalid_item", f"items[{i}].quantity must be an integer")
        urls = item.get("photo_urls", [])
        if not isinstance(urls, list):
            raise _invalid("invalid_item", f"items[{i}].photo_urls must be a list")
        if len(urls) > max_photos:
            raise _invalid("too_many_photos", f"items[{i}] has {len(urls)} photos (max {max_photos})")
        for url in urls:
            if not isinstance(url, str) or not url.startswith(photo_prefixes):
                raise _invalid("photo_url_not_allowed", f"items[{i}]: {url!r} is not one of our photos")
    signatures = payload.get("signatures", [])
    if not isinstance(signatures, list):
        raise _invalid("invalid_signature", "signatures must be a list")
    for i, sig in enumerate(signatures):
        image = sig.get("image") if isinstance(sig, dict) else None
        if not isinstance(image, str) or not image.startswith(SIGNATURE_PREFIX):
            raise _invalid("invalid_signature", f"signatures[{i}].image must be a PNG data URI")
        try:
            base64.b64decode(image[len(SIGNATURE_PREFIX):], validate=True)
        except binascii.Error as err:
            raise _invalid("invalid_signature", f"signatures[{i}].image: {err}") from err
    return site, items, signatures


@bp.post("/submissions")
def create_submission():
    payload = request.get_json(silent=True)
    if payload is None:
        raise ApiError(400, "malformed_json", "the body must be JSON")
    site, items, signatures = validate(
        payload,
        current_app.config["PHOTO_URL_PREFIXES"],
        current_app.config["MAX_PHOTOS_PER_ITEM"],
    )
    session = db.session()
    submission = db.Submission(site=site, items=items, signatures=signatures)
    job = db.Job(submission=submission, status="pending", progress=0, warnings=[])
    session.add_all([submission, job])
    session.commit()
    jobs.enqueue(current_app._get_current_object(), job.id)
    status_url = url_for("submissions.job_status", job_id=job.id)
    return {"submission_id": submission.id, "job_id": job.id, "status_url": status_url}, 202


def _rfc3339(moment):
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite keeps no zone: we store UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@bp.get("/jobs/<int:job_id>")
def job_status(job_id):
    job = db.session().get(db.Job, job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id}")
    return {
        "id": job.id,
        "submission_id": job.submission_id,
        "status": job.status,
        "progress": job.progress,
        "stage": job.stage,
        "error": job.error,
        "warnings": job.warnings or [],
        "results": {"pdf_url": job.pdf_url, "xlsx_url": job.xlsx_url},
        "created_at": _rfc3339(job.created_at),
        "started_at": _rfc3339(job.started_at),
        "finished_at": _rfc3339(job.finished_at),
    }


@bp.get("/jobs/<int:job_id>/report.<kind>")
def download_report(job_id, kind):
    """The finished report, fetched from Cloudinary and answered whole (the
    app read it into memory first)."""
    job = db.session().get(db.Job, job_id)
    url = {"pdf": job.pdf_url, "xlsx": job.xlsx_url}.get(kind) if job else None
    if url is None:
        raise ApiError(404, "not_found", f"no {kind} report for job {job_id}")
    response = requests.get(url, timeout=30)
    response.raise_for_status()
    mime = {
        "pdf": "application/pdf",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[kind]
    return response.content, 200, {"Content-Type": mime}
