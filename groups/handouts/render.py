"""Render handouts to one PDF with WeasyPrint: pure data in, bytes out.

Security: the HTML is built by a standalone autoescaping Jinja environment, so
anything a user typed (practice, group, member or module name) is text. As a
second line of defence WeasyPrint gets a URL fetcher that serves only files
below the repository's ``static/`` folder: no other ``file://`` path, no
``http(s)://``, no ``data:``, no redirects.

Speed: WeasyPrint is imported with this module (about a second, once per
worker), one ``FontConfiguration`` is shared by every render in the process,
and finished PDFs are cached on disk under a key made of everything that
affects the output, so a repeat download never runs WeasyPrint.

The cache is a ``diskcache.Cache``: its index is a SQLite file, so every worker
process on the host shares one cache safely, and it stays under a size limit
(``PDF_CACHE_MAX_MB``) by evicting the least recently used PDFs on each write.
A cache that cannot be opened, read or written costs speed, never a download.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mimetypes
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import diskcache
import jinja2
import weasyprint
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from ..config import DEFAULT_CRISIS_TEXT
from .library import Handout, handout_html_body

log = logging.getLogger(__name__)

# Bump when the HTML conversion or the render options change the output in a
# way the template/stylesheet bytes do not capture.
RENDERER_VERSION = "1"
# What a broken cache raises: a missing or read-only directory, a full disk, a
# corrupt index, or a lock held past diskcache's timeout.
CACHE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "templates"
STATIC_DIR = REPO_ROOT / "static"
TEMPLATE_NAME = "handouts/print.html"
STYLESHEET = STATIC_DIR / "print.css"
ALLOWED_SUFFIXES = {
    ".css",
    ".png",
    ".jpg",
    ".jpeg",
    ".svg",
    ".gif",
    ".webp",
    ".woff",
    ".woff2",
    ".ttf",
    ".otf",
}


@dataclass(frozen=True)
class PrintContext:
    """What is printed around the handouts. The caller decides what is safe to
    show: ``focus_label`` (e.g. "Anxiety") is printed only when given."""

    practice_name: str
    group_name: str | None = None
    focus_label: str | None = None
    session_date: str | None = None  # already formatted for the reader
    module_title: str | None = None
    member_name: str | None = None  # set for a member's own copy
    language: str = "en"
    practice_phone: str | None = None  # left out of the footer when unset
    crisis_text: str = DEFAULT_CRISIS_TEXT


class URLRefused(ValueError):
    """The PDF renderer may not load this URL."""


def static_path_for_url(url: str, static_dir: Path = STATIC_DIR) -> Path:
    """The file under ``static_dir`` that ``url`` names, or ``URLRefused``."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise URLRefused(f"malformed URL: {url[:200]!r}") from exc
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        raise URLRefused(f"only bundled static files may be loaded, not {url[:200]!r}")
    root = static_dir.resolve()
    # resolve() follows symlinks and "..", so the containment check is real.
    path = Path(url2pathname(unquote(parts.path))).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() not in ALLOWED_SUFFIXES:
        raise URLRefused(f"not a bundled static asset: {url[:200]!r}")
    if not path.is_file():
        raise URLRefused(f"no such static asset: {url[:200]!r}")
    return path


class StaticOnlyFetcher(URLFetcher):
    """A WeasyPrint fetcher that serves files under ``static/`` and nothing else.

    Refusals raise ``URLRefused``; WeasyPrint logs them and skips the resource.
    """

    def __init__(self, static_dir: Path = STATIC_DIR):
        super().__init__(allowed_protocols={"file"}, allow_redirects=False, timeout=2)
        self.static_dir = static_dir

    def fetch(self, url, headers=None):
        path = static_path_for_url(url, self.static_dir)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {"Content-Type": content_type}
        if content_type == "text/css":
            headers["Content-Type"] = "text/css; charset=utf-8"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), headers)

    def open(self, url, data=None, timeout=None):  # never fall back to urllib
        return self.fetch(getattr(url, "full_url", url))


_fetcher = StaticOnlyFetcher()
_font_config: FontConfiguration | None = None
_font_lock = threading.Lock()
_jinja = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_cache: diskcache.Cache | None = None


def font_config() -> FontConfiguration:
    """The process-wide font configuration (reusing it keeps memory flat)."""
    global _font_config
    if _font_config is None:
        with _font_lock:
            if _font_config is None:
                _font_config = FontConfiguration()
    return _font_config


def set_cache_dir(path: Path | str | None, *, max_mb: int) -> None:
    """Keep rendered PDFs in ``path``, at most ``max_mb`` megabytes of them.

    None or a limit of 0 switches caching off. Called once per app; an app
    created later in the same process (tests) takes over the cache.
    """
    global _cache
    if _cache is not None:
        _cache.close()
        _cache = None
    if path is None or max_mb <= 0:
        return
    try:
        _cache = diskcache.Cache(
            str(path),
            size_limit=max_mb * 1024 * 1024,
            eviction_policy="least-recently-used",
        )
    except CACHE_ERRORS:
        log.warning("cannot open the handout PDF cache in %s; rendering every time", path)


def document_title(handouts: list[Handout], context: PrintContext, title: str | None = None):
    if title:
        return title
    if len(handouts) == 1:
        return handouts[0].title
    parts = ["Session handouts", context.session_date]
    return " – ".join(p for p in parts if p)


def build_html(handouts: list[Handout], context: PrintContext, *, title: str | None = None) -> str:
    """The print HTML (exposed for tests and for a browser preview)."""
    template = _jinja.get_template(TEMPLATE_NAME)
    return template.render(
        doc_title=document_title(handouts, context, title),
        context=context,
        handouts=[(h, handout_html_body(h)) for h in handouts],
        stylesheet="print.css",
    )


def pdf_cache_key(handouts: list[Handout], context: PrintContext, title: str | None = None) -> str:
    """sha256 over everything that shapes the PDF's bytes."""
    digest = hashlib.sha256()
    digest.update(f"groups-handouts-pdf/{RENDERER_VERSION}/{weasyprint.__version__}\0".encode())
    for path in (TEMPLATES_DIR / TEMPLATE_NAME, STYLESHEET):
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    fields = {
        "context": asdict(context),
        "title": title,
        "handouts": [[h.slug, h.content_hash] for h in handouts],
    }
    digest.update(json.dumps(fields, sort_keys=True, ensure_ascii=True).encode())
    return digest.hexdigest()


def _write_pdf(html: str) -> bytes:
    """The one place WeasyPrint runs (tests spy on it)."""
    document = weasyprint.HTML(
        string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=_fetcher
    )
    return document.write_pdf(font_config=font_config(), pdf_tags=True)


def render_handouts_pdf(
    handouts: list[Handout], context: PrintContext, *, title: str | None = None
) -> bytes:
    """One PDF holding ``handouts`` in order, each starting on a new page."""
    handouts = list(handouts)
    if not handouts:
        raise ValueError("render_handouts_pdf needs at least one handout")
    cache = _cache
    if cache is None:
        return _write_pdf(build_html(handouts, context, title=title))
    key = pdf_cache_key(handouts, context, title)
    try:
        cached = cache.get(key)
    except CACHE_ERRORS:
        log.warning("could not read the handout PDF cache", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    pdf = _write_pdf(build_html(handouts, context, title=title))
    try:
        cache.set(key, pdf)
    except CACHE_ERRORS:  # a full or read-only disk must not break the download
        log.warning("could not write the handout PDF cache", exc_info=True)
    return pdf
