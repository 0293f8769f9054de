"""Handouts: the staff library and previews, and members' PDF downloads.

A session's packet (picking it, the provider's and the members' copies) is
part of the session, in ``views/sessions.py``.

Every PDF goes through ``services.handouts`` (object checks, what is printed,
the audit entry) and leaves as an attachment that no cache keeps.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from ..access import group_for_staff, session_for_member, session_for_staff
from ..auth import role_required
from ..inputs import parse_id
from ..services import ServiceError
from ..services import handouts as service
from .helpers import pdf_response

bp = Blueprint("handouts", __name__, url_prefix="/handouts")
staff = role_required("admin", "provider")
member_only = role_required("member")


def handout_or_404(slug: str):
    handout = service.library().get(slug)
    if handout is None:
        abort(404)
    return handout


def id_arg(name: str) -> int | None:
    """An optional id in the query string; anything but digits is a 404."""
    value = request.args.get(name, "")
    if not value:
        return None
    if (number := parse_id(value)) is None:
        abort(404)
    return number


# ---- Staff ----------------------------------------------------------------------


@bp.route("/")
@staff
def library():
    filters = {k: request.args.get(k, "") for k in ("focus", "module", "kind")}
    return render_template(
        "handouts/library.html",
        filters=filters,
        module_label=service.module_label,
        **service.library_page(**filters),
    )


@bp.route("/<slug>")
@staff
def preview(slug: str):
    page = service.preview_page(handout_or_404(slug), current_user)
    return render_template("handouts/preview.html", module_label=service.module_label, **page)


@bp.route("/<slug>.pdf")
@staff
def download(slug: str):
    """One handout; ``?group=`` and ``?session=`` print their details on it."""
    handout = handout_or_404(slug)
    group_id, session_id = id_arg("group"), id_arg("session")
    group = group_for_staff(current_user, group_id) if group_id is not None else None
    session = session_for_staff(current_user, session_id) if session_id is not None else None
    if group is not None and session is not None and session.group_id != group.id:
        abort(404)
    pdf = service.render([handout], service.print_context(group=group, session=session))
    service.record_download(
        [handout], copy="staff", session=session, group_id=group.id if group else None
    )
    return pdf_response(pdf, f"{handout.slug}.pdf")


# ---- Members -------------------------------------------------------------------


@bp.route("/my/sessions/<int:session_id>.pdf")
@member_only
def member_packet(session_id: int):
    """A member's own copy of a packet of one of their sessions."""
    session = session_for_member(current_user, session_id)
    try:
        pdf, handouts = service.render_packet(session, member=current_user)
    except ServiceError:
        abort(404)
    service.record_download(handouts, copy="member", session=session)
    return pdf_response(pdf, service.packet_filename(session))


@bp.route("/my/modules/<int:module_id>/<int:number>.pdf")
@member_only
def member_handout(module_id: int, number: int):
    """A catch-up handout: handout ``number`` of a module of a group the
    member is or was active in. The URL and the file name carry ids only."""
    found = service.member_handout(current_user, module_id, number)
    if found is None:
        abort(404)
    handout, module = found
    context = service.print_context(
        group=module.group, member=current_user, module_title=module.title
    )
    pdf = service.render([handout], context)
    service.record_download([handout], copy="member", group_id=module.group_id)
    return pdf_response(pdf, service.member_handout_filename(module, number))
