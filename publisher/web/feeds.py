"""Serving the files under feeds/ (and the stylesheet) the way feed readers like them.

Strong ETag from the content hash (the gzip variant has its own), Last-Modified from the file,
304 for If-None-Match / If-Modified-Since, gzip when asked, Cache-Control with a max-age.
Paths that leave the folder, hidden files and folders are 404: there is no directory listing.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flask import Request, Response
from werkzeug.http import http_date, parse_date

from ..feeds import FORMATS, OPML_NAME, OPML_TYPE

# name -> media type, from the feed writer's own table, so the two can never disagree.
FEED_TYPES: dict[str, str] = {name: media_type for name, (media_type, _) in FORMATS.items()}
FEED_TYPES[OPML_NAME] = OPML_TYPE
TEXT_TYPES = {".xml": "application/xml", ".json": "application/json", ".opml": OPML_TYPE,
              ".css": "text/css", ".txt": "text/plain", ".xsl": "text/xsl"}
GZIP_MIN_BYTES = 256  # smaller bodies are not worth compressing


def media_type_for(name: str) -> str:
    """Content-Type for a file under feeds/ (with charset: every file we write is UTF-8)."""
    base = FEED_TYPES.get(name) or TEXT_TYPES.get(Path(name).suffix.lower())
    if base:
        return f"{base}; charset=utf-8"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def resolve_inside(root: Path, subpath: str) -> Path | None:
    """The regular file `subpath` names inside `root`, or None if it is anything else.

    Refuses empty, absolute, `..`, hidden (`.x`, which also covers the writer's temp files),
    backslash and NUL segments before touching the disk, then checks that the resolved path
    (symlinks followed) is still inside the resolved root.
    """
    parts = subpath.split("/")
    if not subpath or any(
        not p or p.startswith(".") or "\\" in p or "\0" in p or ":" in p for p in parts
    ):
        return None
    try:
        base = root.resolve(strict=True)
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


@dataclass(frozen=True)
class _Entry:
    body: bytes
    etag: str
    modified: datetime
    gzipped: bytes | None = None


class FileServer:
    """Conditional, optionally gzipped responses for files; keeps a small cache of recent bodies."""

    def __init__(self, max_entries: int = 256) -> None:
        self._cache: OrderedDict[tuple, _Entry] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def response(self, request: Request, path: Path, max_age: int,
                 content_type: str | None = None) -> Response:
        entry, gz = self._load(path, wants_gzip(request))
        etag = f'"{entry.etag}-gz"' if gz else f'"{entry.etag}"'
        headers = {
            "ETag": etag,
            "Last-Modified": http_date(entry.modified),
            "Cache-Control": f"public, max-age={max_age}",
            "Vary": "Accept-Encoding",
        }
        if not_modified(request, etag, entry.modified):
            return Response(status=304, headers=headers)
        body = entry.gzipped if gz else entry.body
        response = Response(body, headers=headers,
                            content_type=content_type or media_type_for(path.name))
        if gz:
            response.headers["Content-Encoding"] = "gzip"
        return response

    def _load(self, path: Path, want_gzip: bool) -> tuple[_Entry, bool]:
        with path.open("rb") as handle:  # one open file: body and stat always match
            stat = os.fstat(handle.fileno())
            key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
            with self._lock:
                entry = self._cache.get(key)
                if entry:
                    self._cache.move_to_end(key)
            if entry is None:
                body = handle.read()
                entry = _Entry(
                    body=body,
                    etag=hashlib.sha256(body).hexdigest()[:32],
                    modified=datetime.fromtimestamp(int(stat.st_mtime), timezone.utc),
                )
        gz = want_gzip and len(entry.body) >= GZIP_MIN_BYTES
        if gz and entry.gzipped is None:
            entry = _Entry(entry.body, entry.etag, entry.modified,
                           gzip.compress(entry.body, compresslevel=6, mtime=0))
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return entry, gz


def wants_gzip(request: Request) -> bool:
    return request.accept_encodings["gzip"] > 0


def not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) wins over If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        opaque = etag.strip('"')
        given = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
        return opaque in given
    since = parse_date(request.headers.get("If-Modified-Since"))
    return since is not None and modified <= since
