"""CPU time of the app's job stages, per unit, for the reference server's
`[model.cpu]` settings (docs/settings.md, docs/measurements/cpu-model.md).

    .venv/bin/python measure/cpu_stages.py            # 5 repetitions
    .venv/bin/python measure/cpu_stages.py 3

CPU time is this thread's (``time.thread_time``), so the figures hold on a
loaded machine where wall time does not; wall time is printed beside it.
Every step is the app's own code (``inspections``) or the library call it
makes:

- ``workbook``: ``build_workbook`` with 10 and 20 photo URLs;
- ``decode``: what reportlab does to an in-memory photo
  (``ImageReader(BytesIO).getRGBData()``: Pillow's full decode, the RGB
  string, the fingerprint), per megapixel, phone (2160x3840) and camera
  (4000x3000) photos;
- ``ascii85``: reportlab's ``asciiBase85Encode`` of the JPEG bytes (an
  in-memory JPEG is embedded ASCII85-encoded), per MB;
- ``pdf``: ``build_pdf`` whole with 1, 5, 10 phone and 5, 20 camera photos,
  and what is left of it after decode and ASCII85, fitted by least squares
  as a + b x photos and as a + b x megapixels (whichever fits: the rest
  grows with the pixels, the RGB string's handling);
- ``progress write``: ``jobs._update`` (a SQLAlchemy session on SQLite),
  six per job;
- ``upload``: ``storage.upload_report`` (the Cloudinary SDK) of 1 and 8 MB,
  per MB; ``download``: ``PhotoFetcher.fetch`` (requests) of a 0.7 and a
  3 MB photo, per MB; both against a stand-in server in this process on
  127.0.0.1 (its own CPU runs on its own threads, not counted).

Photos are made here with Pillow (noise, JPEG quality 70 and 80), each one
distinct (reportlab embeds a photo it has already seen once), about as big
in bytes as the fake Cloudinary's (phone about 0.7 MB, camera about 3 MB).
"""
import base64
import http.server
import io
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from PIL import Image as PI  # noqa: E402
from reportlab.lib.utils import ImageReader  # noqa: E402
from reportlab.pdfbase.pdfutils import asciiBase85Encode  # noqa: E402

MB = 1 << 20
BLOBS = {}


class Cloudinary(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = (b'{"secure_url": "https://x/y", "public_id": "y", "bytes": 1, '
                b'"width": 1, "height": 1}')
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        data = BLOBS[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def jpeg(width, height, quality, grain):
    img = PI.effect_noise((width // grain, height // grain), 40).convert("RGB")
    img = img.resize((width, height))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def signature():
    buf = io.BytesIO()
    PI.new("RGB", (400, 160), (255, 255, 255)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def timed(call, reps):
    """Median thread CPU and wall seconds of `reps` calls."""
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.thread_time(), time.perf_counter()
        call()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def fit_line(xs, ys):
    """Least squares y = a + b x."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cloudinary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="cpu-stages-")
    os.environ["CLOUDINARY_URL"] = "cloudinary://key:secret@demo"
    os.environ["CLOUDINARY_UPLOAD_PREFIX"] = base
    from inspections import create_app, storage
    from inspections.reports.excel import build_workbook
    from inspections.reports.pdf import build_pdf
    from inspections.reports.photos import PhotoFetcher

    app = create_app()
    from inspections import db, jobs
    with db.SessionLocal() as session:
        sub = db.Submission(site={}, items=[], signatures=[])
        job = db.Job(submission=sub, status="pending", progress=0, warnings=[])
        session.add_all([sub, job])
        session.commit()
        job_id = job.id
    c, w = timed(lambda: jobs._update(job_id, progress=45, stage="pdf"), reps * 4)
    print(f"progress write (_update): {c * 1e3:.1f} ({w * 1e3:.1f})")
    # Distinct photos: reportlab embeds a photo it has seen (same
    # fingerprint) once.
    kinds = {"phone": (2160, 3840, [jpeg(2160, 3840, 70, 10) for _ in range(10)]),
             "camera": (4000, 3000, [jpeg(4000, 3000, 80, 3) for _ in range(20)])}
    site = {k: f"site {k}" for k in ("name", "address", "client", "inspector", "date")}
    item = {"asset": "AHU-1", "system": "HVAC", "description": "air handler", "quantity": 1,
            "brand": "x", "specification": "y", "comments": "z"}
    sigs = [{"role": r, "name": r, "image": signature()} for r in ("inspector", "client")]
    print(f"reps={reps}; times are medians, ms of this thread's CPU (wall in brackets)")

    for n in (10, 20):
        c, w = timed(lambda: build_workbook(site, [dict(item, photo_urls=["u"] * n)]), reps)
        print(f"workbook, {n} photo urls: {c * 1e3:.1f} ({w * 1e3:.1f})")

    decode_per_mp, a85_per_mb = {}, {}
    for kind, (wd, ht, all_data) in kinds.items():
        data = all_data[0]
        mp = wd * ht / 1e6
        c, w = timed(lambda: ImageReader(io.BytesIO(data)).getRGBData(), reps)
        decode_per_mp[kind] = c * 1e3 / mp
        print(f"decode {kind} ({wd}x{ht}, {mp:.2f} MP, {len(data) / MB:.2f} MB): "
              f"{c * 1e3:.1f} ({w * 1e3:.1f}) = {decode_per_mp[kind]:.1f} ms/MP")
        c, w = timed(lambda: asciiBase85Encode(data), reps)
        a85_per_mb[kind] = c * 1e3 / (len(data) / MB)
        print(f"ascii85 {kind}: {c * 1e3:.1f} ({w * 1e3:.1f}) = {a85_per_mb[kind]:.1f} ms/MB")

    photos_n, megapixels, rest = [], [], []
    for kind, n in (("phone", 1), ("phone", 5), ("phone", 10), ("camera", 5), ("camera", 20)):
        wd, ht, all_data = kinds[kind]

        def build():
            build_pdf(site, [item], [[io.BytesIO(d) for d in all_data[:n]]], sigs)

        c, w = timed(build, max(1, reps // 2) if n >= 10 else reps)
        embedded_mb = sum(len(d) for d in all_data[:n]) / MB
        own = n * decode_per_mp[kind] * wd * ht / 1e6 + a85_per_mb[kind] * embedded_mb
        photos_n.append(n)
        megapixels.append(n * wd * ht / 1e6)
        rest.append(c * 1e3 - own)
        print(f"pdf, {n} {kind}: {c * 1e3:.0f} ({w * 1e3:.0f}); "
              f"decode + ascii85 {own:.0f}, rest {c * 1e3 - own:.0f}")
    a, b = fit_line(photos_n, rest)
    print(f"pdf rest fit: {a:.0f} ms per document + {b:.1f} ms per photo")
    a, b = fit_line(megapixels, rest)
    print(f"pdf rest fit: {a:.0f} ms per document + {b:.2f} ms per megapixel")

    for size in (1, 8):
        blob = b"%PDF" + os.urandom(size * MB)
        c, w = timed(lambda: storage.upload_report(blob, "r/x.pdf"), reps)
        print(f"upload {size} MB (SDK): {c * 1e3:.1f} ({w * 1e3:.1f}) = {c * 1e3 / size:.1f} ms/MB")
    with app.app_context():
        fetcher = PhotoFetcher(app.config)
        for kind, (_, _, all_data) in kinds.items():
            data = all_data[0]
            BLOBS[f"/{kind}.jpg"] = data
            c, w = timed(lambda: fetcher.fetch(f"{base}/{kind}.jpg"), reps)
            print(f"download {kind} ({len(data) / MB:.2f} MB, requests): {c * 1e3:.1f} "
                  f"({w * 1e3:.1f}) = {c * 1e3 / (len(data) / MB):.1f} ms/MB")
    print("summary: decode ms/MP " + ", ".join(f"{k} {v:.1f}" for k, v in decode_per_mp.items())
          + "; ascii85 ms/MB " + ", ".join(f"{k} {v:.1f}" for k, v in a85_per_mb.items()))


main()
