"""Groups and their curricula."""

from __future__ import annotations

from .. import audit
from ..clock import utcnow
from ..curricula import default_curriculum
from ..db import database, write_transaction
from ..mail import messages
from ..models import CoFacilitator, Group, Module, Session, User
from . import ServiceError
from .enrollment import fill_from_waitlist
from .schedule import assign_modules

#: The group's fields a calendar shows in its sessions' VEVENTs (SUMMARY,
#: LOCATION, DTSTART/DTEND's zone): changing one changes every session's entry.
CALENDAR_FIELDS = ("name", "location", "timezone")

GROUP_FIELDS = (
    "name",
    "focus",
    "description",
    "capacity",
    "format",
    "location",
    "timezone",
    "status",
)


def create_group(lead: User, fields: dict, co_facilitators: list[User], *, by: User) -> Group:
    with database.atomic():
        group = Group.create(lead=lead, **{k: fields[k] for k in GROUP_FIELDS})
        set_co_facilitators(group, co_facilitators)
        copy_default_curriculum(group)
        audit.record("group_created", actor=by, target=group)
    return group


def curriculum_rows(group_id: int, focus: str) -> list[dict]:
    """The module rows of a focus's default curriculum for one group, in order."""
    return [
        {"group": group_id, "position": i, "key": m.key, "title": m.title, "purpose": m.purpose}
        for i, m in enumerate(default_curriculum(focus), start=1)
    ]


def copy_default_curriculum(group: Group) -> None:
    Module.insert_many(curriculum_rows(group.id, group.focus)).execute()


def set_co_facilitators(group: Group, providers: list[User]) -> None:
    CoFacilitator.delete().where(CoFacilitator.group == group).execute()
    rows = [{"group": group.id, "provider": p.id} for p in providers if p.id != group.lead_id]
    if rows:
        CoFacilitator.insert_many(rows).execute()


def update_group(
    group: Group, fields: dict, co_facilitators: list[User], *, lead: User | None, by: User
) -> Group:
    changed = sorted(k for k in GROUP_FIELDS if getattr(group, k) != fields[k])
    if lead is not None and lead.id != group.lead_id:
        changed.append("lead")
        group.lead = lead
    shown_changed = any(k in changed for k in CALENDAR_FIELDS)
    was_location = group.location
    with write_transaction():
        if "focus" in changed:
            if group.sessions.exists():
                raise ServiceError("The focus cannot change once sessions exist.", "focus")
            # Nothing has been scheduled yet: start again from the new focus's curriculum.
            Module.delete().where(Module.group == group).execute()
        for key in GROUP_FIELDS:
            setattr(group, key, fields[key])
        group.updated_at = utcnow()
        group.save()
        if "focus" in changed:
            copy_default_curriculum(group)
        set_co_facilitators(group, co_facilitators)
        if shown_changed:
            # Past sessions too: their entries are rebuilt from today's group,
            # so what they show changes and SEQUENCE must say so.
            Session.calendar_changed_where(Session.group == group)
        if "capacity" in changed:
            fill_from_waitlist(group, by=by)
        audit.record("group_changed", actor=by, target=group, fields=changed)
        if "location" in changed:
            messages.place_changed(group, was_location)
    return group


def _renumber(modules: list[Module]) -> None:
    for i, module in enumerate(modules, start=1):
        if module.position != i:
            module.position = i
            module.save(only=[Module.position])


def add_module(group: Group, title: str, purpose: str, *, by: User) -> Module:
    with write_transaction():
        position = group.modules.count() + 1
        module = Module.create(
            group=group, position=position, title=title.strip(), purpose=purpose.strip()
        )
        assign_modules(group)
        audit.record("group_changed", actor=by, target=group, fields=["curriculum"])
    return module


def rename_module(module: Module, title: str, purpose: str, *, by: User) -> None:
    with database.atomic():
        module.title, module.purpose = title.strip(), purpose.strip()
        module.save()
        # Staff calendars title sessions "group: module".
        Session.calendar_changed_where(Session.module == module)
        audit.record("group_changed", actor=by, target=module.group, fields=["curriculum"])


def move_module(module: Module, step: int, *, by: User) -> None:
    with write_transaction():
        modules = list(module.group.modules_in_order())
        index = next(i for i, m in enumerate(modules) if m.id == module.id)
        target = index + step
        if not 0 <= target < len(modules):
            return
        modules[index], modules[target] = modules[target], modules[index]
        _renumber(modules)
        assign_modules(module.group)
        audit.record("group_changed", actor=by, target=module.group, fields=["curriculum"])


def remove_module(module: Module, *, by: User) -> None:
    group = module.group
    with write_transaction():
        modules = list(group.modules_in_order())
        if len(modules) <= 1:
            raise ServiceError("A group needs at least one module.")
        if module.sessions.where(Session.status == "held").exists():
            raise ServiceError(
                "This module was covered in a session that has been held, so it stays in "
                "the curriculum. You can rename it instead."
            )
        module.delete_instance()
        _renumber([m for m in modules if m.id != module.id])
        assign_modules(group)
        audit.record("group_changed", actor=by, target=group, fields=["curriculum"])
