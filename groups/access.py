"""Load it or 404, check it or 403: the object checks every view uses.

A provider reaches only groups they lead or co-facilitate; an admin reaches
every group; a member reaches only their own enrollments' groups and
sessions. Anything else is a 404, so ids reveal nothing.
"""

from __future__ import annotations

from flask import abort
from peewee import JOIN

from .db import row_by_id
from .models import CoFacilitator, Enrollment, Group, Module, Session, User


def visible_groups(user: User):
    """The groups a staff user may see and run."""
    query = Group.select()
    if user.is_admin:
        return query
    if user.is_provider:
        co = CoFacilitator.select(CoFacilitator.group).where(CoFacilitator.provider == user)
        return query.where((Group.lead == user) | (Group.id.in_(co)))
    return query.where(Group.id == -1)


def can_run(user: User, group: Group) -> bool:
    if user.is_admin:
        return True
    if not user.is_provider:
        return False
    if group.lead_id == user.id:
        return True
    return (
        CoFacilitator.select()
        .where(CoFacilitator.group == group, CoFacilitator.provider == user)
        .exists()
    )


def group_for_staff(user: User, group_id: int) -> Group:
    """The group if ``user`` may run it, else 404 (a lead or admin costs one query)."""
    group = row_by_id(Group, group_id)
    if group is None or not can_run(user, group):
        abort(404)
    return group


def session_for_staff(user: User, session_id: int) -> Session:
    """The session, its group loaded, if ``user`` may run the group, else 404.

    Two lookups by id (a lead or admin costs no more): building the joined
    peewee query on every request cost more than running it.
    """
    session = row_by_id(Session, session_id)
    if session is None:
        abort(404)
    session.group = group_for_staff(user, session.group_id)
    return session


def member_groups(member: User, statuses=("active",)):
    """Ids of the groups a member is (or was, per ``statuses``) enrolled in."""
    return Enrollment.select(Enrollment.group).where(
        Enrollment.member == member, Enrollment.status.in_(statuses)
    )


def session_for_member(member: User, session_id: int) -> Session:
    session = (
        Session.select(Session, Group)
        .join(Group)
        .where(Session.id == session_id, Session.group.in_(member_groups(member)))
        .first()
    )
    if session is None:
        abort(404)
    return session


def member_of_group(group: Group, member_id: int) -> User:
    """A member with any enrollment (current or past) in the group, else 404."""
    member = (
        User.select()
        .join(Enrollment, JOIN.INNER, on=(Enrollment.member == User.id))
        .where(User.id == member_id, Enrollment.group == group)
        .first()
    )
    if member is None:
        abort(404)
    return member


def module_for_staff(user: User, group_id: int, module_id: int) -> Module:
    """A curriculum module of a group ``user`` may run, its ``group`` loaded, else 404."""
    module = (
        Module.select(Module, Group)
        .join(Group)
        .where(Module.id == module_id, Module.group == group_id)
        .first()
    )
    if module is None or not can_run(user, module.group):
        abort(404)
    return module
