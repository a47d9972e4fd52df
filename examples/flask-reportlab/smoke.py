"""End-to-end check of the example app, with its memory measured from /proc.

Run by smoke.sh with the app (gunicorn) and a fake Cloudinary already up:

  python smoke.py --app http://127.0.0.1:PORT --cloudinary http://127.0.0.1:PORT2 \
      --cloud oomlab --master-pid PID --photos 6 --out DIR

Uploads a photo, submits a report referencing N catalogue phone photos
(2160x3840), polls the job until it completes, samples VmRSS of the
gunicorn master and its workers every 50 ms meanwhile, reads VmHWM at the
end, downloads the PDF and the workbook into DIR and checks the workbook.
Prints one JSON object of figures (MiB) on stdout; exits non-zero on failure.
"""

import argparse
import base64
import io
import json
import os
import sys
import threading
import time

import requests
from openpyxl import load_workbook
from PIL import Image

MIB = 1024 * 1024


def proc_status(pid):
    """VmRSS and VmHWM of a process in bytes, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None
    kib = lambda k: int(fields[k].split()[0]) * 1024  # noqa: E731
    return {"rss": kib("VmRSS"), "hwm": kib("VmHWM")}


def children(pid):
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            pass
    return found


class Sampler(threading.Thread):
    """VmRSS of the master and each worker every 50 ms; the tree's peak."""

    def __init__(self, master):
        super().__init__(daemon=True)
        self.master = master
        self.pids = [master] + children(master)
        self.peak = {pid: 0 for pid in self.pids}
        self.peak_sum = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            total = 0
            for pid in self.pids:
                status = proc_status(pid)
                if status:
                    self.peak[pid] = max(self.peak[pid], status["rss"])
                    total += status["rss"]
            self.peak_sum = max(self.peak_sum, total)
            self.samples += 1
            self.stop.wait(0.05)


def tree(master):
    pids = [master] + children(master)
    return {pid: proc_status(pid) for pid in pids}


def mib(n):
    return round(n / MIB, 1)


def signature_png():
    image = Image.new("RGB", (300, 100), "white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def fail(message):
    print(f"smoke: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--cloudinary", required=True)
    ap.add_argument("--cloud", default="oomlab")
    ap.add_argument("--master-pid", type=int, required=True)
    ap.add_argument("--photos", type=int, default=6)
    ap.add_argument("--kind", default="phone")
    ap.add_argument("--out", required=True)
    ap.add_argument("--job-timeout", type=float, default=300)
    args = ap.parse_args()
    http = requests.Session()
    figures = {}

    time.sleep(1.0)  # let the worker settle after its first requests
    idle = tree(args.master_pid)
    figures["idle_rss_mib"] = {str(p): mib(s["rss"]) for p, s in idle.items()}
    figures["idle_rss_tree_mib"] = mib(sum(s["rss"] for s in idle.values()))

    # 1. A photo upload, forwarded to Cloudinary.
    photo_url = f"{args.cloudinary}/{args.cloud}/image/upload/oomlab/small-1.jpg"
    photo = http.get(photo_url, timeout=30).content
    answer = http.post(f"{args.app}/api/photos",
                       files={"photo": ("IMG_0001.jpg", photo, "image/jpeg")}, timeout=60)
    if answer.status_code != 200:
        fail(f"POST /api/photos: {answer.status_code} {answer.text}")
    uploaded = answer.json()
    if (uploaded.get("width"), uploaded.get("height"), uploaded.get("bytes")) != (1280, 960, len(photo)):
        fail(f"POST /api/photos answered {uploaded}")
    if http.get(uploaded["url"], timeout=30).content != photo:
        fail("the uploaded photo's URL does not serve its bytes")

    # 2. A submission with N phone photos.
    urls = [f"{args.cloudinary}/{args.cloud}/image/upload/oomlab/{args.kind}-{n}.jpg"
            for n in range(1, args.photos + 1)]
    submission = {
        "site": {"name": "Depot 4", "address": "1 Quay St", "client": "Port Co",
                 "inspector": "A. Lee", "date": "2026-11-28"},
        "items": [{"asset": "RTU-1", "system": "HVAC", "description": "Rooftop unit",
                   "quantity": 2, "brand": "Acme", "specification": "RTU-5",
                   "comments": "ok", "photo_urls": urls}],
        "signatures": [{"role": "inspector", "name": "A. Lee", "image": signature_png()}],
    }
    before = tree(args.master_pid)
    figures["before_job_rss_tree_mib"] = mib(sum(s["rss"] for s in before.values() if s))
    sampler = Sampler(args.master_pid)
    sampler.start()
    started = time.monotonic()
    answer = http.post(f"{args.app}/api/submissions", json=submission, timeout=30)
    if answer.status_code != 202:
        fail(f"POST /api/submissions: {answer.status_code} {answer.text}")
    accepted = answer.json()
    status_url = args.app + accepted["status_url"]
    seen = []
    while True:
        job = http.get(status_url, timeout=30).json()
        step = (job["status"], job["progress"], job["stage"])
        if not seen or seen[-1] != step:
            seen.append(step)
        if job["status"] in ("completed", "failed"):
            break
        if time.monotonic() - started > args.job_timeout:
            fail(f"job not done after {args.job_timeout} s: {job}")
        time.sleep(0.25)
    took = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    if job["status"] != "completed":
        fail(f"job failed: {job}")
    end = tree(args.master_pid)
    time.sleep(3.0)
    after = tree(args.master_pid)

    figures["job_seconds"] = round(took, 1)
    figures["job_steps"] = seen
    figures["samples"] = sampler.samples
    figures["peak_rss_mib"] = {str(p): mib(v) for p, v in sampler.peak.items()}
    figures["peak_rss_tree_mib"] = mib(sampler.peak_sum)
    figures["hwm_mib"] = {str(p): mib(s["hwm"]) for p, s in end.items() if s}
    figures["rss_3s_after_job_tree_mib"] = mib(sum(s["rss"] for s in after.values() if s))
    figures["job"] = {k: job[k] for k in ("status", "progress", "stage", "created_at",
                                          "started_at", "finished_at", "results")}

    # 3. The reports.
    pdf = http.get(job["results"]["pdf_url"], timeout=60).content
    xlsx = http.get(job["results"]["xlsx_url"], timeout=60).content
    if not pdf.startswith(b"%PDF"):
        fail("the PDF URL does not serve a PDF")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "report.pdf"), "wb") as f:
        f.write(pdf)
    with open(os.path.join(args.out, "report.xlsx"), "wb") as f:
        f.write(xlsx)
    wb = load_workbook(io.BytesIO(xlsx))
    if wb.sheetnames != ["Summary", "Items", "Materials"]:
        fail(f"workbook sheets: {wb.sheetnames}")
    if wb["Items"].max_row != 2:
        fail(f"Items sheet has {wb['Items'].max_row} rows")
    figures["pdf_bytes"] = len(pdf)
    figures["xlsx_bytes"] = len(xlsx)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
