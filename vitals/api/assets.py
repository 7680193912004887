"""The explorer page's built files (``vitals/api/static/``), loaded once and served from memory.

The page is built from ``web/`` with npm (``npm ci && npm run build``) and the result is
committed, so installing or testing the Python package never needs Node. Every file is
read when the app is built: the set of servable names is fixed then (a request can only
name one of them, so there is no path to traverse), each body gets its ETag and, when
gzip pays, a compressed copy.

Caching: the bundle's names carry a content hash (``app-XXXXXXXX.js``), so they are
cached for a year as immutable; ``index.html`` (which names them) is revalidated on
every load (``no-cache`` plus ETag), so a new build shows at once. Every answer carries a
strict Content-Security-Policy: scripts, styles and fetches from this origin only, no
inline script or style, no framing.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# esbuild's [hash]: 8 characters of A-Z and 0-9 before the extension.
_HASHED = re.compile(r"-[A-Z0-9]{8}\.[a-z]+$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
SHORT = "public, max-age=3600"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_MIN_GZIP_BYTES = 1024


@dataclass(frozen=True)
class Asset:
    """One built file: its body, an optional gzip copy, and the headers it is served with."""

    name: str
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str
    cache_control: str


def load_assets(folder: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every servable file of ``folder`` by name (no subfolders; unknown types skipped).

    An empty or missing folder gives ``{}`` (the API still serves its routes; ``/``
    then answers 404 naming the build command).
    """
    assets: dict[str, Asset] = {}
    if not folder.is_dir():
        return assets
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if not path.is_file() or content_type is None:
            continue
        body = path.read_bytes()
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(body) >= _MIN_GZIP_BYTES and len(packed) < len(body) else None
        if path.name == INDEX:
            cache_control = REVALIDATE
        elif _HASHED.search(path.name):
            cache_control = IMMUTABLE
        else:
            cache_control = SHORT
        assets[path.name] = Asset(
            name=path.name,
            body=body,
            gzipped=gzipped,
            content_type=content_type,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            cache_control=cache_control,
        )
    return assets
