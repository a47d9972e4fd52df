"""Report jobs on a thread pool: Excel, photos, PDF, uploads.

Progress as the browser sees it: 10 started, 30 Excel built, 45 Excel
uploaded, 60 PDF built, 75 PDF uploaded, 100 completed. Stages: excel, pdf,
upload.
"""

from concurrent.futures import ThreadPoolExecutor
import traceback

from . import db, storage
from .reports.excel import build_workbook
from .reports.pdf import build_pdf
from .reports.photos import PhotoFetcher


def init_app(app):
    app.extensions["report_executor"] = ThreadPoolExecutor(
        max_workers=app.config["REPORT_WORKERS"], thread_name_prefix="report"
    )


def enqueue(app, job_id):
    app.extensions["report_executor"].submit(run_report_job, app, job_id)


def _update(job_id, **fields):
    with db.SessionLocal() as session:
        job = session.get(db.Job, job_id)
        for name, value in fields.items():
            setattr(job, name, value)
        session.commit()


def run_report_job(app, job_id):
    try:
        _run(app, job_id)
    except Exception as err:  # noqa: BLE001 - a job never takes its thread down
        app.logger.error("job %s failed: %s\n%s", job_id, err, traceback.format_exc())
        _update(job_id, status="failed", error=f"{type(err).__name__}: {err}",
                finished_at=db.utcnow())


def _run(app, job_id):
    config = app.config
    with db.SessionLocal() as session:
        job = session.get(db.Job, job_id)
        submission = job.submission
        site, items, signatures = submission.site, submission.items, submission.signatures
        submission_id = submission.id
    _update(job_id, status="processing", progress=10, stage="excel", started_at=db.utcnow())
    app.logger.info("job %s: started (submission %s)", job_id, submission_id)

    workbook = build_workbook(site, items)
    _update(job_id, progress=30)
    xlsx_url = storage.upload_report(
        workbook, f"reports/submission-{submission_id}-job-{job_id}.xlsx"
    )
    _update(job_id, progress=45, stage="pdf", xlsx_url=xlsx_url)

    # Every photo is downloaded before the document is built, as the app did.
    app.logger.info("job %s: downloading the photos and building the PDF", job_id)
    with PhotoFetcher(config) as fetcher:
        photos = [[fetcher.fetch(url) for url in item.get("photo_urls", [])] for item in items]
        pdf = build_pdf(site, items, photos, signatures)
        warnings = fetcher.warnings
    del photos
    _update(job_id, progress=60, stage="upload", warnings=warnings)
    app.logger.info("job %s: uploading the PDF", job_id)
    pdf_url = storage.upload_report(pdf, f"reports/submission-{submission_id}-job-{job_id}.pdf")
    _update(job_id, progress=75, pdf_url=pdf_url)
    _update(job_id, status="completed", progress=100, finished_at=db.utcnow())
    app.logger.info("job %s: completed, %d warnings", job_id, len(warnings))
