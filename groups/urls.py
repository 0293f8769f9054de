"""Links that leave the app: calendar feeds, set-password links, links in mail.

Every absolute URL is built here, on :func:`base_url`:

- ``BASE_URL`` when it is set (required in production, see config.py), so a
  link is right behind a proxy and the same from every worker and host;
- in development without it, the address the browser used for this request
  (``PORT=8080 make run`` gives links on port 8080);
- in development outside a request (the mail dispatcher, the CLI),
  ``http://127.0.0.1:$PORT``, ``PORT`` defaulting to 5000 as in the Makefile.

The request's host is trusted only in development: in production a forged
``Host`` header must never reach a password link, hence the required setting.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request

DEFAULT_PORT = "5000"


def base_url() -> str:
    """The app's public root, without a trailing slash."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.root_url.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get('PORT') or DEFAULT_PORT}"


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of an endpoint on :func:`base_url`, with or without a request."""
    base = urlsplit(base_url())
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)
