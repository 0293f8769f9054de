"""What several views share: one way to show a refused form, PDF attachments, password links.

The error convention: a service refuses with :class:`~groups.services.ServiceError`
naming the field; the view puts the message next to that field (or above
the form when no field is named) and re-renders the form with status 422.
A form that fails its own validators is re-rendered the same way.
"""

from __future__ import annotations

from flask import Response, render_template, request
from flask_wtf import FlaskForm

from ..services import ServiceError
from ..urls import external_url

INVALID = 422


def apply_service_error(form: FlaskForm, error: ServiceError) -> None:
    """Show a service's refusal next to the field it names (else above the form)."""
    field = getattr(form, error.field, None) if error.field else None
    (field.errors if field is not None else form.form_errors).append(error.message)


def render_form(template: str, form: FlaskForm, **context):
    """Render a form page: 200 when first shown, 422 when a submission was refused."""
    refused = request.method == "POST" and bool(form.errors or form.form_errors)
    return render_template(template, form=form, **context), INVALID if refused else 200


def password_link_url(token: str) -> str:
    return external_url("auth.set_password", token=token)


def pdf_response(data: bytes, filename: str) -> Response:
    """An attachment no browser or proxy keeps (copies carry member names)."""
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
