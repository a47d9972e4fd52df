"""The application factory: `uvicorn --factory sitereports.main:create_app`."""

import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from . import db, storage
from .config import load_settings
from .jobs import JobRunner
from .routers import auth, health, inspections, jobs


def create_app() -> FastAPI:
    settings = load_settings()
    # uvicorn configures its own loggers only; the app's job lines go to
    # stderr with the process id, as several worker processes share it.
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s [%(process)d] %(name)s: %(message)s"
    )
    for folder in (settings.data_dir, settings.photo_dir, settings.report_dir):
        os.makedirs(folder, exist_ok=True)
    db.init(settings.database)
    storage.check_configured()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner = JobRunner(settings)
        app.state.runner = runner
        yield
        runner.shutdown()

    app = FastAPI(title="Site reports", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, same_site="lax")
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(inspections.router)
    app.include_router(jobs.router)
    static = os.path.join(os.path.dirname(__file__), "static")
    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
