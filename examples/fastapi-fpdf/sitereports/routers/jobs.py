"""A job's status and its reports, served by the app itself."""

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse

from .. import db
from ..security import current_user

router = APIRouter(prefix="/jobs")

_MEDIA = {
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _job(request: Request, job_id: int, user_id: int):
    with db.connect(request.app.state.settings.database) as conn:
        row = conn.execute(
            "SELECT jobs.* FROM jobs JOIN inspections ON inspections.id = jobs.inspection_id "
            "WHERE jobs.id = ? AND inspections.user_id = ?",
            (job_id, user_id),
        ).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return row


@router.get("/{job_id}")
def job_status(request: Request, job_id: int, user_id: int = Depends(current_user)):
    job = _job(request, job_id, user_id)
    done = job["state"] == "done"
    return {
        "id": job["id"],
        "state": job["state"],
        "stage": job["stage"],
        "error": job["error"] or None,
        "reports": {
            "pdf": f"/jobs/{job_id}/report.pdf" if done else None,
            "xlsx": f"/jobs/{job_id}/report.xlsx" if done else None,
        },
        "cloudinary": {"pdf": job["pdf_url"] or None, "xlsx": job["xlsx_url"] or None},
    }


@router.get("/{job_id}/report.{kind}")
def report(request: Request, job_id: int, kind: str, user_id: int = Depends(current_user)):
    if kind not in _MEDIA:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} report")
    job = _job(request, job_id, user_id)
    if job["state"] != "done":
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is {job['state']}")
    return FileResponse(
        job[f"{kind}_path"], media_type=_MEDIA[kind], filename=f"inspection-{job_id}.{kind}"
    )
