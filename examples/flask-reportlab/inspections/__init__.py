"""Site-inspection reports.

Inspectors upload photos one by one (forwarded to Cloudinary), then submit a
form; a background job per submission downloads every photo and builds an
Excel workbook (openpyxl) and a PDF (reportlab), uploads both to Cloudinary
and records the links on the job, which the browser polls.
"""

import logging

from flask import Flask

from . import db, jobs, storage, web
from .api import errors, health, photos, submissions
from .config import load_config


def create_app(overrides=None):
    """Application factory: `gunicorn 'inspections:create_app()'`."""
    app = Flask(__name__)
    # The job's progress lines ("job 3: building the PDF") go to stderr, as
    # the modelled app logged "Generating PDF report...".
    app.logger.setLevel(logging.INFO)
    app.config.update(load_config())
    if overrides:
        app.config.update(overrides)

    storage.init_app(app)
    db.init_app(app)
    jobs.init_app(app)

    errors.register(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(photos.bp, url_prefix="/api")
    app.register_blueprint(submissions.bp, url_prefix="/api")
    # The inspector's form (a page, its script and style).
    app.register_blueprint(web.bp)
    return app
