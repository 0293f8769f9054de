"""gunicorn settings for production: ``gunicorn -c deploy/gunicorn.conf.py app:app``.

Two kinds of URL carry a secret in their path: set-password links
(``/set-password/<token>``) and calendar feeds (``/feed/<token>.ics``).
Anyone who can read an access log line with such a path could set the
account's password or read the member's schedule, so the access log writes
``[masked]`` in place of the token, in the request line, the path and the
Referer (a page opened from a set-password link sends it as Referer).
"""

import re

from gunicorn.glogging import Logger

TOKEN_IN_PATH = re.compile(r"(/set-password/|/feed/)[^/?#\s\"]+?(\.ics)?(?=[/?#\s\"]|$)")


def mask_tokens(text: str) -> str:
    """``text`` with the token of every set-password or feed path replaced by ``[masked]``."""
    return TOKEN_IN_PATH.sub(lambda m: f"{m.group(1)}[masked]{m.group(2) or ''}", text)


class MaskingLogger(Logger):
    """gunicorn's logger, with secret tokens masked in every access-log value."""

    def atoms(self, resp, req, environ, request_time):
        values = super().atoms(resp, req, environ, request_time)
        return {k: mask_tokens(v) if isinstance(v, str) else v for k, v in values.items()}


logger_class = MaskingLogger
accesslog = "-"
bind = "127.0.0.1:8000"
workers = 4
# Recycle workers now and then so a long-lived process's memory stays bounded
# (WeasyPrint renders PDFs in the request's worker).
max_requests = 500
max_requests_jitter = 50
