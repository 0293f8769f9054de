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

Copies of one packet for several readers (``render_copies``) are laid out
once: WeasyPrint renders the packet with the reader's name left out (its box
reserved, the footer's left column blank) and, in one more call, a small "name
layer" per copy from the same stylesheet; pypdf stamps each copy's layer onto
the shared pages. A copy so made prints what a copy rendered whole prints, in
the same places, for a fraction of the cost.

The cache is a ``diskcache.Cache``: its index is a SQLite file, so every worker
process on the host shares one cache safely, and it stays under a size limit
(``PDF_CACHE_MAX_MB``) by evicting the least recently used PDFs on each write.
A cache that cannot be opened, read or written costs speed, never a download.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import mimetypes
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import diskcache
import jinja2
import weasyprint
from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from ..config import DEFAULT_CRISIS_TEXT
from .library import Handout, handout_html_body

log = logging.getLogger(__name__)

# Bump when the HTML conversion or the render options change the output in a
# way the template/stylesheet bytes do not capture.
RENDERER_VERSION = "2"
# What a broken cache raises: a missing or read-only directory, a full disk, a
# corrupt index, or a lock held past diskcache's timeout.
CACHE_ERRORS = (OSError, sqlite3.Error, diskcache.Timeout)
REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "templates"
STATIC_DIR = REPO_ROOT / "static"
TEMPLATE_NAME = "handouts/print.html"
LAYER_TEMPLATE_NAME = "handouts/name_layer.html"
STYLESHEET = STATIC_DIR / "print.css"
# Every file whose bytes shape a PDF (print.html imports _print_lines.html).
LAYOUT_FILES = (
    TEMPLATES_DIR / TEMPLATE_NAME,
    TEMPLATES_DIR / "handouts/_print_lines.html",
    TEMPLATES_DIR / LAYER_TEMPLATE_NAME,
    STYLESHEET,
)
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
    # Set for the packet shared by several copies: the "Copy for" box is
    # reserved but empty and the footer's left column is blank, for a name
    # layer to fill (see render_copies).
    name_layer: bool = False


class TooManyPages(ValueError):
    """Copies that would take longer to make than a request may run."""

    def __init__(self, pages_per_copy: int, copies: int, limit: int):
        self.pages_per_copy, self.copies, self.limit = pages_per_copy, copies, limit
        super().__init__(f"{copies} copies of {pages_per_copy} pages exceed {limit} pages")


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
        # Copies carry member names: only the app's own user may read the cache
        # (diskcache creates its files with the ordinary umask, so the folder guards them).
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)
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


def _digest(kind: str, fields: dict) -> str:
    """sha256 over the layout files, the renderer and ``fields``."""
    digest = hashlib.sha256()
    digest.update(f"groups-handouts-{kind}/{RENDERER_VERSION}/{weasyprint.__version__}\0".encode())
    for path in LAYOUT_FILES:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps(fields, sort_keys=True, ensure_ascii=True).encode())
    return digest.hexdigest()


def pdf_cache_key(handouts: list[Handout], context: PrintContext, title: str | None = None) -> str:
    """sha256 over everything that shapes the PDF's bytes."""
    fields = {
        "context": asdict(context),
        "title": title,
        "handouts": [[h.slug, h.content_hash] for h in handouts],
    }
    return _digest("pdf", fields)


def _write_pdf(html: str) -> bytes:
    """The one place WeasyPrint runs (tests spy on it)."""
    document = weasyprint.HTML(
        string=html, base_url=STATIC_DIR.as_uri() + "/", url_fetcher=_fetcher
    )
    return document.write_pdf(font_config=font_config(), pdf_tags=True)


def render_template_pdf(template_name: str, **context) -> bytes:
    """A PDF of another print template under ``templates/`` (a clinical note), never cached.

    Same environment, fetcher and fonts as the handouts; the template links
    its own stylesheet from ``static/``.
    """
    return _write_pdf(_jinja.get_template(template_name).render(**context))


def _cached_pdf(key: str, html: Callable[[], str]) -> bytes:
    """The PDF cached under ``key``, else WeasyPrint's rendering of ``html()``."""
    cache = _cache
    if cache is None:
        return _write_pdf(html())
    try:
        cached = cache.get(key)
    except CACHE_ERRORS:
        log.warning("could not read the handout PDF cache", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    pdf = _write_pdf(html())
    try:
        cache.set(key, pdf)
    except CACHE_ERRORS:  # a full or read-only disk must not break the download
        log.warning("could not write the handout PDF cache", exc_info=True)
    return pdf


def render_handouts_pdf(
    handouts: list[Handout], context: PrintContext, *, title: str | None = None
) -> bytes:
    """One PDF holding ``handouts`` in order, each starting on a new page."""
    handouts = list(handouts)
    if not handouts:
        raise ValueError("render_handouts_pdf needs at least one handout")
    return _cached_pdf(
        pdf_cache_key(handouts, context, title),
        lambda: build_html(handouts, context, title=title),
    )


# ---- Copies for several readers ------------------------------------------------


def build_layer_html(copies: Sequence[PrintContext]) -> str:
    """Two layer pages per copy: a handout's first page, then any other page."""
    return _jinja.get_template(LAYER_TEMPLATE_NAME).render(
        copies=copies, language=copies[0].language, stylesheet="print.css"
    )


def render_name_layers(copies: Sequence[PrintContext]) -> bytes:
    """The name layers of ``copies``, in one WeasyPrint call."""
    # Only what the layer prints goes into the key, so the provider's packet
    # and each member's download share layers across sessions.
    fields = {
        "copies": [
            [c.practice_name, c.practice_phone, c.crisis_text, c.member_name, c.language]
            for c in copies
        ]
    }
    return _cached_pdf(_digest("layer", fields), lambda: build_layer_html(copies))


def handout_first_pages(reader: PdfReader) -> set[int]:
    """Page indexes where a handout starts: print.html's ``handout-N`` anchors."""
    return {
        reader.get_destination_page_number(dest)
        for name, dest in reader.named_destinations.items()
        if name.startswith("handout-")
    }


def render_copies(
    handouts: list[Handout],
    context: PrintContext,
    readers: Sequence[str | None],
    *,
    title: str | None = None,
    copies_title: str | None = None,
    max_pages: int | None = None,
) -> bytes:
    """One PDF with a copy of ``handouts`` for each reader (a name, or None
    for a copy that names nobody), each copy paged "x of y" on its own.

    With several readers each copy sits under a "Copy for NAME" bookmark and
    the document is titled ``copies_title``. ``TooManyPages`` when the copies
    would hold more than ``max_pages`` pages; it is raised before any layer
    is made, once the packet's own page count is known.
    """
    handouts, readers = list(handouts), list(readers)
    if not handouts or not readers:
        raise ValueError("render_copies needs at least one handout and one reader")
    shared = replace(context, member_name=None, name_layer=True)
    base = PdfReader(io.BytesIO(render_handouts_pdf(handouts, shared, title=title)))
    pages = len(base.pages)
    if max_pages is not None and pages * len(readers) > max_pages:
        raise TooManyPages(pages, len(readers), max_pages)
    copies = [replace(context, member_name=name, name_layer=False) for name in readers]
    layers = PdfReader(io.BytesIO(render_name_layers(copies)))
    return _stamp(base, layers, readers, copies_title)


def _stamp(
    base: PdfReader, layers: PdfReader, readers: list[str | None], copies_title: str | None
) -> bytes:
    """Each reader's copy: the shared pages with that reader's layer drawn on top."""
    first_pages = handout_first_pages(base)
    if len(readers) == 1:
        # One copy keeps everything the packet has: tags, language, bookmarks.
        writer = PdfWriter(clone_from=base)
        copies = [(0, writer.pages)]
    else:
        writer = PdfWriter()
        copies = []
        for n, name in enumerate(readers):
            start = len(writer.pages)
            # One bookmark per copy; each copy's own bookmarks would multiply
            # the packet's outline by the number of readers.
            writer.append(base, import_outline=False)
            writer.add_outline_item(title=f"Copy for {name}" if name else "Copy", page_number=start)
            copies.append((n, writer.pages[start:]))
        metadata = dict(base.metadata or {})
        if copies_title:
            metadata["/Title"] = copies_title
        writer.add_metadata(metadata)
        if "/Lang" in base.trailer["/Root"]:
            writer.root_object[NameObject("/Lang")] = base.trailer["/Root"]["/Lang"]
    # Every page draws its content inside q ... Q, then its layer: whatever the
    # content leaves in the graphics state cannot shift the layer. The layer is
    # an artifact to assistive technology: the tagged content already holds
    # the text a screen reader needs.
    # _add_object is pypdf's own way to make an indirect object (it has no
    # public one): shared streams are written once, not once per page.
    before = writer._add_object(_stream(b"q\n"))
    after = writer._add_object(_stream(b"Q\n/Artifact BMC\nq /NameLayer Do Q\nEMC\n"))
    for n, pages in copies:
        first = writer._add_object(_form_xobject(layers.pages[2 * n], writer))
        other = writer._add_object(_form_xobject(layers.pages[2 * n + 1], writer))
        for index, page in enumerate(pages):
            _draw_on(page, first if index in first_pages else other, before, after)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _stream(data: bytes) -> StreamObject:
    stream = StreamObject()
    stream.set_data(data)
    return stream


def _form_xobject(page: PageObject, writer: PdfWriter) -> StreamObject:
    """A layer page as a Form XObject, drawn where the page would be."""
    contents = page.get_contents()  # a page may have none at all
    form = _stream(contents.get_data() if contents is not None else b"")
    resources = page.get("/Resources")
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): page.mediabox,
            NameObject("/Resources"): (
                resources.get_object().clone(writer)
                if resources is not None
                else DictionaryObject()
            ),
        }
    )
    return form.flate_encode()


def _draw_on(page: PageObject, layer, before, after) -> None:
    """Add ``layer`` on top of ``page``: the page's own resources and content
    streams stay shared with every other copy; only its two small lists are new."""
    resources = DictionaryObject(page.get("/Resources", DictionaryObject()).get_object())
    xobjects = DictionaryObject(resources.get("/XObject", DictionaryObject()).get_object())
    xobjects[NameObject("/NameLayer")] = layer
    resources[NameObject("/XObject")] = xobjects
    page[NameObject("/Resources")] = resources
    contents = page.get("/Contents")
    own = contents.get_object() if contents is not None else ArrayObject()
    streams = list(own) if isinstance(own, ArrayObject) else [contents]
    page[NameObject("/Contents")] = ArrayObject([before, *streams, after])
