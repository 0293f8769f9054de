"""Security headers on every response."""

from __future__ import annotations

from flask import Flask, request

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


# Every response gets these unless the view set its own. Cache-Control is
# added for everything but static files: pages and files may carry member
# data, so never keep them in a shared or back-button cache (feeds set
# their own caching).
DEFAULT_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
NOT_STORED = ("Cache-Control", "no-store")
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def init_app(app: Flask) -> None:
    defaults = list(DEFAULT_HEADERS)
    if not app.config["DEVELOPMENT"]:
        defaults.append(HSTS)
    with_no_store = [*defaults, NOT_STORED]

    @app.after_request
    def set_security_headers(response):
        # One pass over the headers the view set, rather than a lookup per
        # default (each missed lookup scans the list and builds a KeyError).
        present = {name.lower() for name, _value in response.headers}
        wanted = defaults if request.endpoint == "static" else with_no_store
        response.headers.extend([(k, v) for k, v in wanted if k.lower() not in present])
        return response
