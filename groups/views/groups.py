"""Groups: list, create, edit, schedule, curriculum, enrollment."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from playhouse.flask_utils import get_object_or_404

from .. import audit
from ..access import group_for_staff, member_of_group, module_for_staff, visible_groups
from ..auth import role_required
from ..forms import (
    EnrollForm,
    GroupForm,
    MakeupForm,
    MemberAccountForm,
    ModuleForm,
    ReasonForm,
    ScheduleForm,
)
from ..inputs import parse_id
from ..models import FOCUS_LABELS, Enrollment, Group, User
from ..services import ServiceError, enrollment, overview, schedule
from ..services import groups as group_service
from .helpers import apply_service_error, attempt, password_link_url, render_form, submit

bp = Blueprint("groups", __name__, url_prefix="/groups")
staff = role_required("admin", "provider")


@bp.route("/")
@staff
def index():
    filters = {k: request.args.get(k, "") for k in ("focus", "provider", "status")}
    query = visible_groups(current_user)
    if filters["focus"] in FOCUS_LABELS:
        query = query.where(Group.focus == filters["focus"])
    if filters["status"]:
        query = query.where(Group.status == filters["status"])
    provider_id = parse_id(filters["provider"])
    if current_user.is_admin and provider_id is not None:
        query = query.where(Group.lead == provider_id)
    page = overview.group_list(query, with_providers=current_user.is_admin)
    return render_template("groups/index.html", filters=filters, **page._asdict())


def group_form(group: Group | None = None) -> GroupForm:
    form = GroupForm(obj=group)
    providers = list(User.providers())
    if current_user.is_admin:
        co_choices = providers  # the lead is picked in the same form
    else:
        lead_id = group.lead_id if group else current_user.id
        co_choices = [p for p in providers if p.id != lead_id]
    form.co_facilitators.choices = [(p.id, p.name) for p in co_choices]
    if current_user.is_admin:
        form.lead.choices = [(p.id, p.name) for p in providers]
    else:
        del form.lead  # a provider leads the groups they create
    if request.method == "GET" and group is not None:
        if current_user.is_admin:
            form.lead.data = group.lead_id
        form.co_facilitators.data = [c.provider_id for c in group.co_facilitators]
    return form


def chosen_lead(form: GroupForm, group: Group | None) -> User:
    """Admins pick the lead; a provider leads what they create and cannot hand it off."""
    if current_user.is_admin:
        return User.get_by_id(form.lead.data)
    return group.lead if group else current_user


def form_fields(form: GroupForm) -> dict:
    return {
        "name": form.name.data.strip(),
        "focus": form.focus.data,
        "description": (form.description.data or "").strip(),
        "capacity": form.capacity.data,
        "format": form.format.data,
        "location": form.location.data.strip(),
        "timezone": form.timezone.data.strip(),
        "status": form.status.data,
    }


@bp.route("/new", methods=["GET", "POST"])
@staff
def create():
    form = group_form()
    if form.validate_on_submit():
        co = list(User.select().where(User.id.in_(form.co_facilitators.data or [])))
        group = group_service.create_group(
            chosen_lead(form, None), form_fields(form), co, by=current_user
        )
        flash(f"Created {group.name}. Next, set its schedule.", "success")
        return redirect(url_for("groups.set_schedule", group_id=group.id))
    return render_form("groups/form.html", form, group=None)


@bp.route("/<int:group_id>")
@staff
def detail(group_id: int):
    group = group_for_staff(current_user, group_id)
    return group_page(group, EnrollForm())


def group_page(group: Group, form: EnrollForm):
    """The group page; ``form`` is the enroll form (422 when its submission was refused)."""
    page = overview.group_page(group)
    return render_form("groups/detail.html", form, group=group, **page._asdict())


@bp.route("/<int:group_id>/edit", methods=["GET", "POST"])
@staff
def update(group_id: int):
    group = group_for_staff(current_user, group_id)
    form = group_form(group)

    def save():
        co = list(User.select().where(User.id.in_(form.co_facilitators.data or [])))
        lead = chosen_lead(form, group)
        group_service.update_group(group, form_fields(form), co, lead=lead, by=current_user)

    back = url_for("groups.detail", group_id=group.id)
    done = submit(form, save, "Saved the group's details.", back)
    return done or render_form("groups/form.html", form, group=group)


@bp.route("/<int:group_id>/schedule", methods=["GET", "POST"])
@staff
def set_schedule(group_id: int):
    group = group_for_staff(current_user, group_id)
    form = ScheduleForm.for_group(group)
    plan = None
    if form.validate_on_submit():
        values = {
            "start_date": form.start_date.data,
            "weekday": form.weekday.data,
            "start_time": form.start_time.data,
            "duration_minutes": form.duration_minutes.data,
            "session_count": form.session_count.data,
        }
        try:
            # The preview and the creation share one plan: what was shown is what is made.
            plan = schedule.preview_schedule(group, **values)
            if not form.preview.data:
                schedule.create_schedule(group, **values, by=current_user)
                flash(schedule_summary(plan), "success")
                return redirect(url_for("groups.detail", group_id=group.id))
        except ServiceError as error:
            apply_service_error(form, error)
    return render_form(
        "groups/schedule.html",
        form,
        group=group,
        plan=plan,
        has_sessions=group.sessions.exists(),
    )


def schedule_summary(plan: schedule.SchedulePlan) -> str:
    """The flash after a schedule is created: how many sessions, which weeks were skipped."""
    text = f"Scheduled {len(plan.dates)} sessions."
    if plan.skipped:
        days = ", ".join(f"{d:%a %d %b %Y}" for d in plan.skipped)
        text += f" Skipped for practice closures: {days}."
    return text


@bp.route("/<int:group_id>/makeup", methods=["GET", "POST"])
@staff
def makeup(group_id: int):
    group = group_for_staff(current_user, group_id)
    form = MakeupForm(duration_minutes=group.duration_minutes or 90)
    when = (form.date.data, form.time.data, form.duration_minutes.data)
    add = partial(
        schedule.add_makeup,
        group,
        *when,
        by=current_user,
        despite_closure=form.despite_closure.data,
    )
    back = url_for("groups.detail", group_id=group.id)
    return submit(form, add, "Added a make-up session.", back) or render_form(
        "groups/makeup.html", form, group=group
    )


def curriculum_page(group: Group, form: ModuleForm):
    """The curriculum page and its add-module form (422 when a submission was refused)."""
    return render_form(
        "groups/curriculum.html", form, group=group, modules=list(group.modules_in_order())
    )


@bp.route("/<int:group_id>/curriculum", methods=["GET", "POST"])
@staff
def curriculum(group_id: int):
    group = group_for_staff(current_user, group_id)
    form = ModuleForm()
    if form.validate_on_submit():
        group_service.add_module(group, form.title.data, form.purpose.data or "", by=current_user)
        flash("Added the module at the end of the curriculum.", "success")
        return redirect(url_for("groups.curriculum", group_id=group.id))
    return curriculum_page(group, form)


@bp.route("/<int:group_id>/curriculum/<int:module_id>", methods=["GET", "POST"])
@staff
def edit_module(group_id: int, module_id: int):
    module = module_for_staff(current_user, group_id, module_id)
    form = ModuleForm(obj=module)
    if form.validate_on_submit():
        group_service.rename_module(
            module, form.title.data, form.purpose.data or "", by=current_user
        )
        flash("Saved the module.", "success")
        return redirect(url_for("groups.curriculum", group_id=group_id))
    return render_form("groups/module_form.html", form, group=module.group, module=module)


@bp.route(
    "/<int:group_id>/curriculum/<int:module_id>/<any(up, down, remove):action>", methods=["POST"]
)
@staff
def change_module(group_id: int, module_id: int, action: str):
    module = module_for_staff(current_user, group_id, module_id)
    try:
        if action == "remove":
            group_service.remove_module(module, by=current_user)
            flash(f"Removed “{module.title}”.", "success")
        else:
            group_service.move_module(module, -1 if action == "up" else 1, by=current_user)
    except ServiceError as error:
        # Shown above the list, where the refused button was.
        form = ModuleForm(formdata=None)
        apply_service_error(form, error)
        return curriculum_page(module.group, form)
    return redirect(url_for("groups.curriculum", group_id=group_id))


@bp.route("/<int:group_id>/enroll", methods=["POST"])
@staff
def enroll(group_id: int):
    """Enroll by part of a name or an email: one match by full email enrolls at once,
    otherwise the matching members are listed, each with its own Enroll button."""
    group = group_for_staff(current_user, group_id)
    form = EnrollForm()
    if form.validate_on_submit():
        search = overview.enroll_search(group, form.email.data)
        exact = search.exact()
        if exact is not None:
            try:
                row = enrollment.enroll_by_email(group, exact.email, by=current_user)
            except ServiceError as error:
                apply_service_error(form, error)
            else:
                flash_enrollment(row, row.member)
                return redirect(url_for("groups.detail", group_id=group.id))
        elif search.matches:
            return render_template("groups/enroll.html", form=form, group=group, search=search)
        else:
            form.email.errors.append(
                f"No member of the practice has “{search.text}” in their name or email. "
                "Check the spelling, or create a new member account."
            )
    return group_page(group, form)


def flash_enrollment(row: Enrollment, member: User) -> None:
    if row.status == "active":
        flash(f"Enrolled {member.name}.", "success")
    else:
        position = enrollment.waitlist_position(row)
        flash(f"The group is full: {member.name} is number {position} on the waitlist.", "warning")


@bp.route("/<int:group_id>/members/new", methods=["GET", "POST"])
@staff
def new_member(group_id: int):
    group = group_for_staff(current_user, group_id)
    if reason := enrollment.closed_reason(group):
        # Refused before an account is made for nothing.
        flash(reason, "error")
        return redirect(url_for("groups.detail", group_id=group.id))
    form = MemberAccountForm(timezone=group.timezone)
    if form.validate_on_submit():
        try:
            row, token = enrollment.enroll_new_member(
                group,
                email=form.email.data,
                name=form.name.data,
                timezone=form.timezone.data,
                by=current_user,
            )
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            flash_enrollment(row, row.member)
            return render_template(
                "admin/password_link.html",
                user=row.member,
                link=password_link_url(token),
                invited=True,
                back_url=url_for("groups.detail", group_id=group.id),
            )
    return render_form("groups/new_member.html", form, group=group)


@bp.route("/<int:group_id>/enrollments/<int:enrollment_id>/withdraw", methods=["GET", "POST"])
@staff
def withdraw(group_id: int, enrollment_id: int):
    group = group_for_staff(current_user, group_id)
    row = get_object_or_404(
        Enrollment,
        Enrollment.id == enrollment_id,
        Enrollment.group == group,
        Enrollment.status != "withdrawn",
    )
    form = ReasonForm()
    promoted, status = attempt(
        form, partial(enrollment.withdraw, row, form.reason.data, by=current_user)
    )
    if status is None:
        flash(f"Withdrew {row.member.name}.", "success")
        if promoted:
            flash(
                f"{promoted.member.name} moved up from the waitlist into the free seat.",
                "success",
            )
        return redirect(url_for("groups.detail", group_id=group.id))
    return render_form("groups/withdraw.html", form, group=group, enrollment=row)


@bp.route("/<int:group_id>/members/<int:member_id>")
@staff
def member_record(group_id: int, member_id: int):
    group = group_for_staff(current_user, group_id)
    member = member_of_group(group, member_id)
    audit.record("member_record_viewed", target=member, group=group.id)
    page = overview.member_record(group, member)
    return render_template("groups/member.html", group=group, member=member, **page._asdict())
