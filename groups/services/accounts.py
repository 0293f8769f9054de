"""Accounts: creation, changes, deactivation, login with throttling, set-password links."""

from __future__ import annotations

import datetime
import zoneinfo

from peewee import IntegrityError, fn

from .. import audit, clock, passwords
from ..clock import utcnow
from ..db import database, write_transaction
from ..models import ROLES, LoginAttempt, SetPasswordToken, User, normalize_email
from . import ServiceError

THROTTLE_WINDOW = datetime.timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
GENERIC_LOGIN_ERROR = "That email and password do not match an active account."


class LoginThrottled(ServiceError):
    pass


def valid_timezone(name: str) -> bool:
    try:
        clock.zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def create_user(
    email: str,
    name: str,
    role: str,
    *,
    timezone: str = "America/New_York",
    password: str | None = None,
    created_by: User | None = None,
) -> User:
    email = normalize_email(email)
    if role not in ROLES:
        raise ServiceError(f"Role must be one of {', '.join(ROLES)}.", "role")
    if not valid_timezone(timezone):
        raise ServiceError("Unknown time zone; use an IANA name like America/Chicago.", "timezone")
    if password is not None and (problem := passwords.password_problem(password)):
        raise ServiceError(problem, "password")
    try:
        with database.atomic():
            user = User.create(
                email=email,
                name=name.strip(),
                role=role,
                timezone=timezone,
                password_hash=passwords.hash_password(password) if password else None,
            )
            audit.record("account_created", actor=created_by, target=user, role=role)
    except IntegrityError:
        raise ServiceError("An account with this email already exists.", "email") from None
    return user


def update_user(user: User, *, changed_by: User, **fields) -> User:
    """Change name, email, role, time zone; records which fields changed (not their values)."""
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
    if "timezone" in fields and not valid_timezone(fields["timezone"]):
        raise ServiceError("Unknown time zone; use an IANA name like America/Chicago.", "timezone")
    if "role" in fields and fields["role"] not in ROLES:
        raise ServiceError(f"Role must be one of {', '.join(ROLES)}.", "role")
    changed = sorted(k for k, v in fields.items() if getattr(user, k) != v)
    if not changed:
        return user
    for key in changed:
        setattr(user, key, fields[key])
    user.updated_at = utcnow()
    try:
        with database.atomic():
            user.save()
            audit.record("account_changed", actor=changed_by, target=user, fields=changed)
    except IntegrityError:
        raise ServiceError("An account with this email already exists.", "email") from None
    return user


def set_active(user: User, active: bool, *, changed_by: User) -> None:
    if user.id == changed_by.id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    with database.atomic():
        user.active = active
        user.rotate_session_token()  # ends every open session of the account
        user.updated_at = utcnow()
        user.save()
        audit.record(
            "account_reactivated" if active else "account_deactivated",
            actor=changed_by,
            target=user,
        )


def recent_failures(email: str, ip: str) -> tuple[int, int]:
    since = utcnow() - THROTTLE_WINDOW
    failed = LoginAttempt.select().where(~LoginAttempt.succeeded, LoginAttempt.at >= since)
    by_account = failed.where(LoginAttempt.email == email).count()
    by_address = failed.where(LoginAttempt.ip == ip).count()
    return by_account, by_address


def authenticate(email: str, password: str, ip: str) -> User:
    """The active user for these credentials; ServiceError / LoginThrottled otherwise.

    Unknown email and wrong password give the same message and cost the same.
    """
    email = normalize_email(email)
    by_account, by_address = recent_failures(email, ip)
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        audit.record("login_throttled", target_type="login", email_attempted=email)
        raise LoginThrottled(
            "Too many failed attempts. For your security, please wait 15 minutes "
            "before trying again."
        )
    user = User.by_email(email)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    with database.atomic():
        LoginAttempt.create(email=email, ip=ip, succeeded=ok)
        if not ok:
            audit.record("login_failed", actor=None, target_type="login", email_attempted=email)
    if not ok:
        raise ServiceError(GENERIC_LOGIN_ERROR)
    if passwords.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
        user.save()
    return user


def end_sessions(user: User) -> None:
    """Invalidate every cookie of this user (logout everywhere)."""
    user.rotate_session_token()
    user.save(only=[User.session_token])


def issue_password_link(user: User, *, issued_by: User | None) -> str:
    """A one-time token for the set-password page (the caller builds the URL)."""
    token, hashed = passwords.new_link_token()
    now = utcnow()
    with database.atomic():
        SetPasswordToken.create(
            user=user,
            token_hash=hashed,
            created_by=issued_by,
            created_at=now,
            expires_at=now + passwords.SET_PASSWORD_LINK_LIFETIME,
        )
        audit.record("password_link_issued", actor=issued_by, target=user)
    return token


LINK_USED = "This link has expired or was already used. Ask for a new one."


def _open_link(token: str) -> SetPasswordToken | None:
    """The stored row of a link that is neither used nor expired, or None."""
    row = SetPasswordToken.get_or_none(
        SetPasswordToken.token_hash == passwords.link_token_hash(token)
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def link_user(token: str) -> User | None:
    """The user a still-valid link belongs to, or None."""
    row = _open_link(token)
    return row.user if row is not None and row.user.active else None


def use_password_link(token: str, password: str) -> User:
    if problem := passwords.password_problem(password):
        raise ServiceError(problem, "password")
    with write_transaction():
        row = _open_link(token)
        if row is None:
            raise ServiceError(LINK_USED, "password")
        # Single use even under a double submit: only one UPDATE can match.
        claimed = (
            SetPasswordToken.update(used_at=utcnow())
            .where(SetPasswordToken.id == row.id, SetPasswordToken.used_at.is_null())
            .execute()
        )
        if not claimed:
            raise ServiceError(LINK_USED, "password")
        user = row.user
        user.password_hash = passwords.hash_password(password)
        user.rotate_session_token()
        user.updated_at = utcnow()
        user.save()
        audit.record("password_link_used", actor=user, target=user)
    return user


def people(role: str = "", search: str = ""):
    """Accounts by role and name, optionally of one role and matching a name or email."""
    query = User.select().order_by(User.role, User.name, User.id)
    if role in ROLES:
        query = query.where(User.role == role)
    if search:
        query = query.where(User.name.contains(search) | User.email.contains(search.lower()))
    return query


def count_by_role() -> dict[str, int]:
    rows = User.select(User.role, fn.COUNT(User.id).alias("n")).group_by(User.role)
    return {r.role: r.n for r in rows}
