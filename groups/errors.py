"""One error page for every status, in the product's style, never a traceback."""

from __future__ import annotations

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from peewee import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from .services.handouts import LibraryUnavailable

MESSAGES = {
    400: ("Something was wrong with that request", "Please go back and try again."),
    401: ("Please log in", "You need to log in to see this page."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "That action is not available here."),
    413: ("Too large", "What you sent is larger than this form accepts."),
    429: ("Too many attempts", "Please wait a few minutes before trying again."),
    500: (
        "Something went wrong on our side",
        "Nothing you entered was saved by the failed request. Please try again; "
        "if it keeps happening, tell the practice's administrator.",
    ),
    503: ("Temporarily unavailable", "Please try again in a minute."),
}


def render_error(code: int, detail: str | None = None):
    title, text = MESSAGES.get(code, MESSAGES[500])
    return render_template("error.html", code=code, title=title, text=detail or text), code


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(
            400, "The form expired or was sent from elsewhere. Go back, reload it and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error):
        detail = error.description if error.code == 429 else None
        return render_error(error.code or 500, detail)

    @app.errorhandler(LibraryUnavailable)
    def library_unavailable(error):
        return render_error(
            503,
            "The handout library has a problem, so handouts cannot be printed right now. "
            "An administrator can run `flask --app app check-handouts` to see what to fix.",
        )

    @app.errorhandler(OperationalError)
    def database_busy(error):
        # A write waited out the busy timeout behind a long lock (or the
        # database went away). The transaction was rolled back, so nothing
        # partial is saved; the user may simply try again.
        app.logger.warning("database operational error: %s", error)
        body, code = render_error(
            503,
            "The system is busy right now and did not save this request. "
            "Please wait a moment and try again.",
        )
        return body, code, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected_error(error):
        app.logger.exception("unhandled error")
        return render_error(InternalServerError.code)
