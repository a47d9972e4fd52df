"""How many container objects the job's other steps leave for CPython's
cyclic collector: a progress write (`jobs._update`: a SQLAlchemy session on
SQLite), a report upload and a photo upload through the Cloudinary SDK
(against a local stand-in that answers as Cloudinary does), and a photo
download with requests (`PhotoFetcher`).

    .venv/bin/python measure/gc_job_steps.py 30      # repetitions per step
    .venv/bin/python measure/gc_job_steps.py --serve 18732   # only the stand-in

Printed per step: ``net`` (``gc.get_count()[0]`` added per call with the
collector disabled) and ``garbage`` (what ``gc.collect()`` then found
unreachable, per call). The stand-in server runs in this process; its own
objects are counted too (a few per request).
"""
import gc
import http.server
import io
import json
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PHOTO = b"\xff\xd8" + b"x" * 700_000


class Cloudinary(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"secure_url": "https://x/y", "public_id": "y", "bytes": 700_004,
                           "width": 2160, "height": 3840}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(PHOTO)))
        self.end_headers()
        self.wfile.write(PHOTO)

    def log_message(self, *args):
        pass


if sys.argv[1:2] == ["--serve"]:
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Cloudinary).serve_forever()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cloudinary)
threading.Thread(target=server.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{server.server_port}"
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="gc-steps-")
os.environ["CLOUDINARY_URL"] = "cloudinary://key:secret@demo"
os.environ["CLOUDINARY_UPLOAD_PREFIX"] = base

from inspections import create_app, db, jobs, storage  # noqa: E402
from inspections.reports.photos import PhotoFetcher  # noqa: E402


class Upload:
    stream = io.BytesIO(PHOTO)
    filename = "p.jpg"


def per_call(label, n, call):
    for _ in range(3):
        call()
    gc.collect()
    c0 = gc.get_count()[0]
    for _ in range(n):
        call()
    net = gc.get_count()[0] - c0
    print(f"{label}: net={net / n:.0f} garbage={gc.collect() / n:.0f} per call ({n} calls)")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    app = create_app()
    with db.SessionLocal() as s:
        sub = db.Submission(site={}, items=[], signatures=[])
        job = db.Job(submission=sub, status="pending", progress=0, warnings=[])
        s.add_all([sub, job])
        s.commit()
        job_id = job.id
    gc.disable()
    per_call("progress write (_update)", n, lambda: jobs._update(job_id, progress=45, stage="pdf"))
    per_call("report upload (SDK, 1 MB)", n, lambda: storage.upload_report(b"%PDF" + b"x" * 1_000_000, "r/x.pdf"))
    per_call("photo upload (SDK)", n, lambda: (Upload.stream.seek(0), storage.upload_photo(Upload, "f")))
    fetcher = PhotoFetcher(app.config)
    per_call("photo download (requests)", n, lambda: fetcher.fetch(f"{base}/p.jpg"))


main()
