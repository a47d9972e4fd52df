"""Downloading a report's photos with requests.

REPORT_PHOTO_SOURCE=memory (the app as it ran): each photo is read into an
io.BytesIO and handed to reportlab as a file object. reportlab cannot tell
such an image's identity from a name, so it decodes it in full to
fingerprint it, and keeps the decoded pixels until the document is built.

REPORT_PHOTO_SOURCE=path: each photo is written to a temporary .jpg and
reportlab gets the path; it reads the JPEG header for the size, fingerprints
the name, and embeds the file's bytes without decoding them.
"""

import io
import os
import tempfile
import time

import requests


class PhotoFetcher:
    def __init__(self, config):
        self.source = config["REPORT_PHOTO_SOURCE"]
        self.timeout = config["PHOTO_TIMEOUT_S"]
        self.attempts = config["PHOTO_ATTEMPTS"]
        self.backoff = config["PHOTO_BACKOFF_S"]
        self.http = requests.Session()
        self.warnings = []
        self._tempdir = None

    def __enter__(self):
        if self.source == "path":
            self._tempdir = tempfile.TemporaryDirectory(prefix="report-photos-")
        return self

    def __exit__(self, *exc):
        self.http.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def fetch(self, url):
        """A BytesIO or a file path, or None when the photo cannot be had."""
        data = self._download(url)
        if data is None:
            return None
        if self.source == "memory":
            return io.BytesIO(data)
        fd, path = tempfile.mkstemp(suffix=".jpg", dir=self._tempdir.name)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def _download(self, url):
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.get(url, timeout=self.timeout, allow_redirects=False)
                response.raise_for_status()
                return response.content
            except requests.RequestException as err:
                if attempt == self.attempts:
                    self.warnings.append(f"photo not available: {url} ({err})")
                    return None
                time.sleep(delay)
                delay *= 2
        return None
