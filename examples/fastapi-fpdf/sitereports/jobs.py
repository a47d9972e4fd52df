"""Report jobs, built in a background thread of the process that took the
submission: the workbook, then the PDF with every photo, both uploaded to
Cloudinary and kept on disk, where the app serves them from.

Each stage is logged as `job N: ...`: the lines an operator (and oomlab's
`[log] stage` of targets/fastapi-fpdf.toml) reads to know what the job was
doing. As in many apps of this kind, the queue lives in the process: a job
queued when its process stops stays `queued`.
"""

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from . import db, storage
from .reports import excel, pdf

log = logging.getLogger("sitereports.jobs")


class JobRunner:
    def __init__(self, settings):
        self.settings = settings
        self.executor = ThreadPoolExecutor(
            max_workers=settings.report_workers, thread_name_prefix="report"
        )

    def submit(self, job_id: int) -> None:
        self.executor.submit(self.run, job_id)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _update(self, job_id, **fields):
        columns = ", ".join(f"{name} = ?" for name in fields)
        with db.connect(self.settings.database) as conn:
            conn.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def run(self, job_id: int) -> None:
        try:
            self._build(job_id)
        except Exception as e:  # noqa: BLE001 - a job's failure is recorded, not raised
            log.exception("job %d failed", job_id)
            self._update(job_id, state="error", error=str(e) or type(e).__name__, finished_at=db.now())

    def _build(self, job_id: int) -> None:
        settings = self.settings
        with db.connect(settings.database) as conn:
            inspection = conn.execute(
                "SELECT inspections.* FROM inspections JOIN jobs ON jobs.inspection_id = "
                "inspections.id WHERE jobs.id = ?",
                (job_id,),
            ).fetchone()
            photos = conn.execute(
                "SELECT filename, path FROM photos WHERE inspection_id = ? ORDER BY position",
                (inspection["id"],),
            ).fetchall()
        items = json.loads(inspection["items_json"])
        photo_paths = {p["filename"]: p["path"] for p in photos}
        base = os.path.join(settings.report_dir, f"inspection-{inspection['id']}")

        log.info("job %d: building the workbook", job_id)
        self._update(job_id, state="processing", stage="excel")
        xlsx_path = excel.build(inspection, items, base + ".xlsx")

        log.info("job %d: building the PDF with %d photos", job_id, len(photos))
        self._update(job_id, stage="pdf")
        pdf_path = pdf.build(inspection, items, photo_paths, base + ".pdf")

        log.info("job %d: uploading the reports to Cloudinary", job_id)
        self._update(job_id, stage="upload")
        folder = settings.cloudinary_folder
        xlsx_url = storage.upload_report(xlsx_path, f"inspection-{inspection['id']}.xlsx", folder)
        pdf_url = storage.upload_report(pdf_path, f"inspection-{inspection['id']}.pdf", folder)

        self._update(
            job_id,
            state="done",
            stage="done",
            pdf_path=pdf_path,
            xlsx_path=xlsx_path,
            pdf_url=pdf_url,
            xlsx_url=xlsx_url,
            finished_at=db.now(),
        )
        log.info("job %d: done", job_id)
