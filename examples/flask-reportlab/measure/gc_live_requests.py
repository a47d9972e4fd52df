"""Container objects per request in the app as it runs under gunicorn: the
collections its gctrace files record over N requests, times 701 (CPython
collects generation 0 on the 701st net new object), divided by N.

Start the app with the tracer (see gctrace/sitecustomize.py), e.g.

    DATA_DIR=/tmp/gc-live CLOUDINARY_URL=cloudinary://k:s@demo \\
    PYTHONPATH=measure/gctrace GC_TRACE=/tmp/gc-live \\
    .venv/bin/gunicorn --workers 1 --threads 4 --worker-class gthread \\
        --bind 127.0.0.1:18731 'inspections:create_app()'

then:

    .venv/bin/python measure/gc_live_requests.py http://127.0.0.1:18731 /tmp/gc-live 700

Photo uploads are measured too when the app's CLOUDINARY_UPLOAD_PREFIX
points at a stand-in that answers uploads as Cloudinary does (run
``measure/gc_job_steps.py --serve PORT`` and start the app with
``CLOUDINARY_UPLOAD_PREFIX=http://127.0.0.1:PORT``); pass ``--photos``.
"""
import glob
import json
import sys
import time

import requests

SUBMISSION = {
    "site": {k: "x" for k in ("name", "address", "client", "inspector", "date")},
    "items": [{"asset": "a", "photo_urls": []}],
    "signatures": [],
}


def collections(trace_dir):
    return sum(1 for f in glob.glob(f"{trace_dir}/gc-*.jsonl") for line in open(f)
               if json.loads(line)["gen"] >= 0)


def main():
    base, trace_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    http = requests.Session()
    job = http.post(f"{base}/api/submissions", json=SUBMISSION).json()["job_id"]
    time.sleep(3)  # its job runs (and fails: no photos to upload) first
    photo = b"\xff\xd8\xff\xe0" + b"x" * 700_000
    routes = [("GET /api/jobs/<id>", lambda: http.get(f"{base}/api/jobs/{job}"), n),
              ("GET /healthz", lambda: http.get(f"{base}/healthz"), n)]
    if "--photos" in sys.argv:
        routes.append(("POST /api/photos (0.7 MB)", lambda: http.post(
            f"{base}/api/photos", files={"photo": ("p.jpg", photo, "image/jpeg")}), n // 5))
    for label, call, n in routes:
        for _ in range(5):
            call()
        time.sleep(0.5)
        before = collections(trace_dir)
        for _ in range(n):
            call()
        time.sleep(0.5)
        ran = collections(trace_dir) - before
        print(f"{label}: {ran} collections in {n} requests: "
              f"about {ran * 701 / n:.0f} net objects per request")


main()
