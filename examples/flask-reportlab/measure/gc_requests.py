"""How many container objects one request leaves for CPython's cyclic
collector: the app's status poll and its submission (the job itself not
run), through Flask's test client (gunicorn's own objects per request are
not in it).

    .venv/bin/python measure/gc_requests.py 50      # requests per route

Printed per route: ``net`` (``gc.get_count()[0]`` added per request with
the collector disabled: container objects allocated and not freed by
reference counting) and ``garbage`` (what ``gc.collect()`` then found
unreachable, per request).
"""
import gc
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="gc-requests-"))
os.environ.setdefault("CLOUDINARY_URL", "cloudinary://key:secret@demo")
from inspections import create_app, jobs  # noqa: E402

PREFIX = "https://res.cloudinary.com/demo/image/upload/"
SUBMISSION = {
    "site": {k: f"site {k}" for k in ("name", "address", "client", "inspector", "date")},
    "items": [{"asset": "AHU-1", "system": "HVAC", "description": "air handler",
               "quantity": 1, "brand": "b", "specification": "s", "comments": "c",
               "photo_urls": [f"{PREFIX}v1/p{i}.jpg" for i in range(10)]}],
    "signatures": [],
}


def per_request(label, n, call):
    for _ in range(3):  # warm: lazy imports, caches
        call()
    gc.collect()
    c0 = gc.get_count()[0]
    for _ in range(n):
        call()
    net = gc.get_count()[0] - c0
    garbage = gc.collect()
    print(f"{label}: net={net / n:.0f} garbage={garbage / n:.0f} per request ({n} requests)")


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    app = create_app({"PHOTO_URL_PREFIXES": (PREFIX,)})
    jobs.enqueue = lambda app, job_id: None  # the job is not run
    client = app.test_client()
    gc.disable()
    job = client.post("/api/submissions", json=SUBMISSION).get_json()["job_id"]
    per_request("GET /api/jobs/<id>", n, lambda: client.get(f"/api/jobs/{job}"))
    per_request("POST /api/submissions", n, lambda: client.post("/api/submissions", json=SUBMISSION))
    per_request("GET /healthz", n, lambda: client.get("/healthz"))


main()
