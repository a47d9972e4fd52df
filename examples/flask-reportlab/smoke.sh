#!/usr/bin/env bash
# End to end on loopback, bounded in time: a fake Cloudinary, the app under
# gunicorn (1 worker x 4 threads, as deployed), a photo upload, a report of
# N phone photos, the PDF checked with qpdf and the workbook with openpyxl,
# and the gunicorn tree's memory from /proc (printed as JSON).
#
#   ./smoke.sh                        # memory mode, 6 photos
#   REPORT_PHOTO_SOURCE=path ./smoke.sh
#   SMOKE_PHOTOS=10 ./smoke.sh
#
# Needs: ./setup.sh done (or VENV=...), the fake built
# (cargo build --release -p mock-cloudinary, or MOCK_CLOUDINARY_BIN=...),
# qpdf and curl (apt-get install qpdf curl). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VENV:-$here/.venv}"
# The dev profile optimises mock-cloudinary too, so a debug build will do.
fake_bin="${MOCK_CLOUDINARY_BIN:-}"
if [ -z "$fake_bin" ]; then
    for candidate in "$root/target/release/mock-cloudinary" "$root/target/debug/mock-cloudinary"; do
        [ -x "$candidate" ] && { fake_bin="$candidate"; break; }
    done
fi
photos="${SMOKE_PHOTOS:-6}"
export REPORT_PHOTO_SOURCE="${REPORT_PHOTO_SOURCE:-memory}"
work="$(mktemp -d -t flask-reportlab-smoke-XXXXXX)"
out="${SMOKE_OUT:-$work/out}"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -n "${SMOKE_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

die() { echo "smoke: FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f" >&2; tail -n 30 "$f" >&2; done; exit 1; }

[ -x "$venv/bin/python" ] || die "no virtualenv at $venv: run $here/setup.sh"
[ -n "$fake_bin" ] && [ -x "$fake_bin" ] || die "no fake binary (${fake_bin:-target/{release,debug}/mock-cloudinary}): cargo build --release -p mock-cloudinary, or set MOCK_CLOUDINARY_BIN"
command -v qpdf >/dev/null || die "qpdf is not installed (apt-get install qpdf)"
command -v curl >/dev/null || die "curl is not installed (apt-get install curl)"

# 1. The fake Cloudinary; its ready line names its port.
preload="oomlab/small-1$(for n in $(seq 1 "$photos"); do printf ',oomlab/phone-%s' "$n"; done)"
"$fake_bin" --port 0 --preload "$preload" --upload-dir "$work/cloudinary" \
    >"$work/fake.out" 2>"$work/fake.log" &
pids+=($!)
for _ in $(seq 1 600); do
    grep -q '"ready"' "$work/fake.out" 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || die "the fake exited"
    sleep 0.1
done
cloudinary="$(sed -n 's/.*"base_url":"\([^"]*\)".*/\1/p' "$work/fake.out")"
[ -n "$cloudinary" ] || die "the fake did not print its ready line within 60 s"

# 2. The app under gunicorn on a port the OS picks; its log names it.
(
    cd "$here"
    CLOUDINARY_URL="cloudinary://smoke-key:smoke-secret@oomlab?upload_prefix=$cloudinary" \
    DATA_DIR="$work/data" \
    exec "$venv/bin/gunicorn" --workers 1 --threads 4 --worker-class gthread \
        --bind 127.0.0.1:0 --graceful-timeout 10 'inspections:create_app()'
) >"$work/gunicorn.out" 2>"$work/gunicorn.log" &
master=$!
pids+=("$master")
app=""
for _ in $(seq 1 300); do
    app="$(sed -n 's/.*Listening at: \(http:[^ ]*\).*/\1/p' "$work/gunicorn.log" | head -n 1)"
    [ -n "$app" ] && curl -fsS "$app/healthz" >/dev/null 2>&1 && break
    kill -0 "$master" 2>/dev/null || die "gunicorn exited"
    sleep 0.1
done
curl -fsS "$app/healthz" >/dev/null || die "the app did not answer /healthz within 30 s"

# 3. Upload, submit, poll, measure, fetch the reports.
timeout 600 "$venv/bin/python" "$here/smoke.py" --app "$app" --cloudinary "$cloudinary" \
    --cloud oomlab --master-pid "$master" --photos "$photos" --out "$out" \
    >"$work/figures.json" 2>"$work/smoke.log" || die "smoke.py failed"

# 4. The PDF is well formed and has every photo.
qpdf --check "$out/report.pdf" >"$work/qpdf.log" 2>&1 || die "qpdf --check failed"
# reportlab writes no object streams: each image XObject's dictionary is
# plain text. Distinct photos must be distinct XObjects (not de-duplicated).
images="$(grep -ac '/Subtype /Image' "$out/report.pdf" || true)"
[ "$images" -ge "$photos" ] || die "the PDF has $images image objects for $photos photos"
cat "$work/figures.json"
echo "smoke: ok: REPORT_PHOTO_SOURCE=$REPORT_PHOTO_SOURCE, $photos photos, PDF $(stat -c %s "$out/report.pdf") bytes with $images images, qpdf --check passed"
