"""What several views share: one way to show a refused form, PDF attachments, password links.

The error convention: a service refuses with :class:`~groups.services.ServiceError`
naming the field; the view puts the message next to that field (or above
the form when no field is named) and re-renders the form with status 422.
A form that fails its own validators is re-rendered the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, flash, redirect, render_template, request
from flask_wtf import FlaskForm

from ..services import ServiceError
from ..services.accounts import LoginThrottled
from ..urls import external_url

INVALID = 422
THROTTLED = 429


def apply_service_error(form: FlaskForm, error: ServiceError) -> None:
    """Show a service's refusal next to the field it names (else above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    (field.errors if field is not None else form.form_errors).append(error.message)


def attempt(form: FlaskForm, action: Callable[[], object]) -> tuple[object, int | None]:
    """Run the service call ``action`` for a valid submission.

    (result, None) when it succeeded, else (None, the status to show the form
    again with): 200 when it was not submitted, 429 when sign-in attempts are
    throttled, 422 for any other refusal (the message is next to its field).
    ``action`` may be a ``functools.partial`` of the form's data: WTForms reads
    the posted values when the form is made, and a refused form never calls it.
    """
    if not form.validate_on_submit():
        return None, INVALID if form.is_submitted() else 200
    try:
        return action(), None
    except ServiceError as error:
        apply_service_error(form, error)
        return None, THROTTLED if isinstance(error, LoginThrottled) else INVALID


def submit(form: FlaskForm, action: Callable[[], object], done: str, then: str):
    """:func:`attempt`, then flash ``done`` and redirect to ``then``; None when
    refused, and the caller re-renders the form with :func:`render_form`."""
    if attempt(form, action)[1] is not None:
        return None
    flash(done, "success")
    return redirect(then)


def render_form(template: str, form: FlaskForm, submitted: bool | None = None, **context):
    """Render a form page: 200 when first shown, 422 when a submission was refused.

    A form is submitted when it was POSTed; a GET form (the calendar export)
    says so itself with ``submitted``.
    """
    if submitted is None:
        submitted = request.method == "POST"
    refused = submitted and bool(form.errors or form.form_errors)
    return render_template(template, form=form, **context), INVALID if refused else 200


def password_link_url(token: str) -> str:
    return external_url("auth.set_password", token=token)


def pdf_response(data: bytes, filename: str) -> Response:
    """An attachment no browser or proxy keeps (copies carry member names)."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def csv_response(body: str, filename: str) -> Response:
    """A CSV download no browser or proxy keeps (exports hold member data)."""
    # A byte-order mark lets spreadsheet programs detect UTF-8.
    return Response(
        "\ufeff" + body,
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
