"""Drive mock-cloudinary with the official Cloudinary Python SDK.

Run by tests/api/sdk.rs against a fake it started, with:

  CLOUDINARY_URL=cloudinary://key:secret@CLOUD?upload_prefix=http://127.0.0.1:PORT
  MOCK_CLOUDINARY_BASE_URL=http://127.0.0.1:PORT
  MOCK_CLOUDINARY_PRESET=NAME=FOLDER   (a preset the fake defines)

The SDK reads CLOUDINARY_URL on import, query parameters included, so an
app configured this way talks to the fake unmodified. Each check prints one
line; the first failure raises, and the exit status is non-zero.
"""

import base64
import os
import struct
import sys
import tempfile
import urllib.request
import zlib

import cloudinary
import cloudinary.uploader
from cloudinary.exceptions import Error as CloudinaryError

BASE = os.environ["MOCK_CLOUDINARY_BASE_URL"].rstrip("/")
CLOUD = cloudinary.config().cloud_name
PRESET, PRESET_FOLDER = os.environ["MOCK_CLOUDINARY_PRESET"].split("=", 1)

# The fields the SDKs and the apps built on them read from an upload answer.
ANSWER_FIELDS = (
    "secure_url", "url", "public_id", "version", "format", "resource_type",
    "bytes", "etag", "created_at", "type", "signature", "asset_id",
    "version_id", "original_filename",
)
IMAGE_FIELDS = ("width", "height")


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def jpeg_size(data):
    """(width, height) from a JPEG's SOF segment."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise ValueError("no SOF segment")


def tiny_png(width, height):
    """A valid RGB PNG made without Pillow."""
    def chunk(kind, body):
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in ((x * 40) % 256, (y * 60) % 256, 128))
        for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def check(name, condition, detail=""):
    if not condition:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok   {name}")


def check_answer(name, answer, resource_type, data):
    fields = ANSWER_FIELDS + (IMAGE_FIELDS if resource_type == "image" else ())
    missing = [f for f in fields if answer.get(f) in (None, "")]
    check(f"{name}: answer has every field", not missing, f"missing {missing} in {answer}")
    check(f"{name}: resource_type", answer["resource_type"] == resource_type, answer)
    check(f"{name}: bytes", answer["bytes"] == len(data), (answer["bytes"], len(data)))
    check(f"{name}: type upload", answer["type"] == "upload", answer)
    check(f"{name}: version is an int", isinstance(answer["version"], int), answer)
    served = get(answer["secure_url"])
    check(f"{name}: secure_url serves the uploaded bytes", served == data,
          f"{len(served)} bytes served, {len(data)} uploaded")
    check(f"{name}: url serves them too", get(answer["url"]) == data)


def main():
    check("SDK configured from CLOUDINARY_URL", cloudinary.config().upload_prefix == BASE,
          cloudinary.config().upload_prefix)
    photo = get(f"{BASE}/{CLOUD}/image/upload/oomlab/640x480-60k-1.jpg")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "IMG_0001.jpg")
        with open(path, "wb") as f:
            f.write(photo)

        # 1. A file path: multipart file, signed (api_key, timestamp, signature).
        answer = cloudinary.uploader.upload(path, public_id="site-7/photo-1")
        check_answer("file path", answer, "image", photo)
        check("file path: public_id", answer["public_id"] == "site-7/photo-1", answer)
        check("file path: size and format",
              (answer["width"], answer["height"], answer["format"]) == (640, 480, "jpg"), answer)
        check("file path: original_filename", answer["original_filename"] == "IMG_0001", answer)
        resized = get(answer["secure_url"].replace("/upload/", "/upload/w_320,c_limit/", 1))
        check("file path: transformation on the returned URL", jpeg_size(resized) == (320, 240),
              jpeg_size(resized))

        # 2. A base64 data URI, as the SDKs send base64 files.
        png = tiny_png(3, 2)
        uri = "data:image/png;base64," + base64.b64encode(png).decode()
        answer = cloudinary.uploader.upload(uri, folder="signatures")
        check_answer("data URI", answer, "image", png)
        check("data URI: png 3x2",
              (answer["width"], answer["height"], answer["format"]) == (3, 2, "png"), answer)
        check("data URI: folder", answer["public_id"].startswith("signatures/"), answer)

        # 3. resource_type="auto": an image answers as image, a PDF as raw.
        answer = cloudinary.uploader.upload(path, resource_type="auto")
        check_answer("auto image", answer, "image", photo)
        pdf = b"%PDF-1.4\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
        pdf_path = os.path.join(tmp, "report.pdf")
        with open(pdf_path, "wb") as f:
            f.write(pdf)
        answer = cloudinary.uploader.upload(pdf_path, resource_type="auto", folder="reports")
        check_answer("auto pdf", answer, "raw", pdf)
        check("auto pdf: raw id keeps its extension",
              answer["public_id"].startswith("reports/") and answer["public_id"].endswith(".pdf"),
              answer)

        # 4. raw, as apps upload reports; use_filename without a suffix.
        answer = cloudinary.uploader.upload(pdf_path, resource_type="raw",
                                            use_filename=True, unique_filename=False)
        check_answer("raw", answer, "raw", pdf)
        check("raw: use_filename", answer["public_id"] == "report.pdf", answer)

        # 5. A remote URL: the fake fetches it from itself.
        source = f"{BASE}/{CLOUD}/image/upload/oomlab/640x480-60k-2.jpg"
        answer = cloudinary.uploader.upload(source, folder="remote")
        check_answer("remote URL", answer, "image", get(source))
        check("remote URL: original_filename", answer["original_filename"] == "640x480-60k-2",
              answer)

        # 6. An upload preset defined on the fake gives its folder.
        answer = cloudinary.uploader.upload(path, upload_preset=PRESET)
        check("preset: folder", answer["public_id"].startswith(PRESET_FOLDER + "/"), answer)

        # 7. Refusals come back as the SDK's exceptions with Cloudinary's message.
        for name, call, expected in [
            ("undefined preset", lambda: cloudinary.uploader.upload(path, upload_preset="nope"),
             "Upload preset not found"),
            ("non-loopback URL", lambda: cloudinary.uploader.upload("http://example.com/a.jpg"),
             "Remote URL not allowed"),
            ("not an image", lambda: cloudinary.uploader.upload(pdf_path),
             "Invalid image file"),
        ]:
            try:
                call()
            except CloudinaryError as e:
                check(f"refused: {name}", expected in str(e), str(e))
            else:
                check(f"refused: {name}", False, "the upload succeeded")
    print("sdk checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {e}", file=sys.stderr)
        sys.exit(1)
