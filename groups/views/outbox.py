"""Admin: the mail outbox. Every message, its delivery state, its rendered text and HTML.

The HTML body is shown the way the recipient's mail program would show it,
but it is the practice's own template filled with data, so it is still
treated as untrusted: it is served on its own URL with a policy of its own
(sandboxed, no script, nothing fetched) and framed by this site only.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth import role_required
from ..mail import outbox
from ..services import ServiceError

bp = Blueprint("outbox", __name__, url_prefix="/admin/outbox")

# Inline styles only (mail HTML has nothing else); no script, no fetches, no forms.
PREVIEW_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


def get_message_or_404(message_id: int, audited: bool = True):
    message = outbox.message_for_admin(message_id, current_user._get_current_object(), audited)
    if message is None:
        abort(404)
    return message


@bp.route("/")
@role_required("admin")
def index():
    view = outbox.listing(request.args.get("status", ""), request.args.get("page", 1, type=int))
    return render_template("outbox/index.html", view=view)


@bp.route("/<int:message_id>")
@role_required("admin")
def detail(message_id: int):
    message = get_message_or_404(message_id)
    return render_template("outbox/detail.html", message=message)


@bp.route("/<int:message_id>/preview")
@role_required("admin")
def preview(message_id: int):
    message = get_message_or_404(message_id, audited=False)
    headers = {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": PREVIEW_POLICY,
        "X-Frame-Options": "SAMEORIGIN",
    }
    return message.html_body, 200, headers


@bp.route("/<int:message_id>/retry", methods=["POST"])
@role_required("admin")
def retry(message_id: int):
    try:
        message = outbox.retry(message_id, by=current_user._get_current_object())
    except ServiceError as error:
        flash(error.message, "error")
    else:
        if message is None:
            abort(404)
        flash("The message will be sent on the dispatcher's next pass.", "success")
    return redirect(url_for("outbox.detail", message_id=message_id))


@bp.route("/test", methods=["POST"])
@role_required("admin")
def send_test():
    if outbox.send_test(current_user._get_current_object()):
        flash(f"A test message to {current_user.email} is queued.", "success")
    else:
        flash("A test message was already queued this minute.", "info")
    return redirect(url_for("outbox.index"))
