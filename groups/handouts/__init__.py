"""Printable handouts: the content library and the PDF renderer.

``library`` loads the Markdown files under ``content/`` (pure, cached);
``render`` turns handouts plus a ``PrintContext`` into one PDF with
WeasyPrint. Neither needs a database or a Flask request.
"""

from .library import (
    FOCUSES,
    KINDS,
    Handout,
    HandoutError,
    Library,
    check_library,
    handout_html_body,
    load_library,
)

__all__ = [
    "FOCUSES",
    "KINDS",
    "Handout",
    "HandoutError",
    "Library",
    "check_library",
    "handout_html_body",
    "load_library",
]
