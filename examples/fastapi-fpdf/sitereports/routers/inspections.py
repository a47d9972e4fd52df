"""The inspection form: one multipart POST with the fields and the photos.

The photos are saved under DATA_DIR as they arrive (FastAPI spools each
upload to a temporary file), the inspection and its pending job are stored,
the job goes to the background runner, and the answer is `202 Accepted` with
the job's URL in `Location`.
"""

import json
import os
import shutil

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from .. import db
from ..security import check_csrf, csrf_token, current_user
from .templating import templates

router = APIRouter(prefix="/inspections")

_SIGNATURES = {b"\xff\xd8\xff": "jpg", b"\x89PNG": "png"}


@router.get("/new", response_class=HTMLResponse)
def new_inspection(request: Request):
    if not request.session.get("user_id"):
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return templates.TemplateResponse(
        request, "new_inspection.html", {"csrf_token": csrf_token(request)}
    )


def _parse_items(items: str, filenames: set) -> list:
    try:
        parsed = json.loads(items)
    except ValueError as e:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"items is not JSON: {e}")
    if not isinstance(parsed, list) or not all(isinstance(i, dict) for i in parsed):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "items must be a list of objects")
    for n, item in enumerate(parsed, start=1):
        if not str(item.get("title", "")).strip():
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"item {n} has no title")
        for name in item.get("photos", []):
            if name not in filenames:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_ENTITY,
                    f"item {n} names photo {name!r}, which was not sent",
                )
    return parsed


def _kind(upload: UploadFile) -> str:
    head = upload.file.read(8)
    upload.file.seek(0)
    for magic, ext in _SIGNATURES.items():
        if head.startswith(magic):
            return ext
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"{upload.filename} is not a JPEG or PNG"
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def create_inspection(
    request: Request,
    user_id: int = Depends(current_user),
    csrf_token_field: str = Form("", alias="csrf_token"),
    site_name: str = Form(...),
    inspector: str = Form(...),
    items: str = Form("[]"),
    signature: str = Form(""),
    photos: list[UploadFile] = File(default=[]),
):
    check_csrf(request, csrf_token_field)
    settings = request.app.state.settings
    if len(photos) > settings.max_photos:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_ENTITY, f"at most {settings.max_photos} photos"
        )
    for upload in photos:
        if upload.size is not None and upload.size > settings.max_photo_bytes:
            raise HTTPException(
                status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"{upload.filename} is too large"
            )
    parsed = _parse_items(items, {p.filename for p in photos})
    kinds = [_kind(p) for p in photos]
    created = db.now()
    with db.connect(settings.database) as conn:
        inspection_id = conn.execute(
            "INSERT INTO inspections (user_id, site_name, inspector, items_json, signature, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, site_name, inspector, json.dumps(parsed), signature, created),
        ).lastrowid
        folder = os.path.join(settings.photo_dir, str(inspection_id))
        os.makedirs(folder, exist_ok=True)
        for position, (upload, ext) in enumerate(zip(photos, kinds), start=1):
            path = os.path.join(folder, f"{position}.{ext}")
            with open(path, "wb") as out:
                shutil.copyfileobj(upload.file, out)
            conn.execute(
                "INSERT INTO photos (inspection_id, position, filename, path) VALUES (?, ?, ?, ?)",
                (inspection_id, position, upload.filename or f"{position}.{ext}", path),
            )
        job_id = conn.execute(
            "INSERT INTO jobs (inspection_id, state, created_at) VALUES (?, 'queued', ?)",
            (inspection_id, created),
        ).lastrowid
    request.app.state.runner.submit(job_id)
    return JSONResponse(
        {"job_id": job_id, "state": "queued"},
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/jobs/{job_id}"},
    )
