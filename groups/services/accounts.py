"""Accounts: creation, changes, deactivation, login with throttling, set-password links."""

from __future__ import annotations

import datetime
import zoneinfo

import email_validator
from peewee import IntegrityError, fn

from .. import audit, clock, passwords, two_factor
from ..clock import utcnow
from ..db import database, write_transaction
from ..mail import messages
from ..models import ROLES, LoginAttempt, SetPasswordToken, User, normalize_email
from . import ServiceError, enrollment
from .clinical_notes import set_npi

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


def update_user(user: User, *, changed_by: User, npi: str | None = None, **fields) -> User:
    """Change name, email, role, time zone and, on a provider's account, the NPI ("" clears it).

    One transaction: a refused NPI leaves the other fields unsaved too. The audit
    rows name which fields changed, never their values.
    """
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
    if "timezone" in fields and not valid_timezone(fields["timezone"]):
        raise ServiceError("Unknown time zone; use an IANA name like America/Chicago.", "timezone")
    if "role" in fields and fields["role"] not in ROLES:
        raise ServiceError(f"Role must be one of {', '.join(ROLES)}.", "role")
    changed = sorted(k for k, v in fields.items() if getattr(user, k) != v)
    for key in changed:
        setattr(user, key, fields[key])
    try:
        with database.atomic():
            if changed:
                user.updated_at = utcnow()
                user.save()
                audit.record("account_changed", actor=changed_by, target=user, fields=changed)
            if npi is not None and user.is_provider:
                set_npi(user, npi, by=changed_by)
    except IntegrityError:
        raise ServiceError("An account with this email already exists.", "email") from None
    return user


DEACTIVATION_REASON = "account deactivated"


def set_active(user: User, active: bool, *, changed_by: User) -> None:
    """(De)activate an account; deactivation ends its sessions, feed and group places.

    The feed token is cleared, not kept for later, so reactivating never
    brings an old subscription URL back; the member's seats go to the
    waitlists at once. All in one transaction.
    """
    if user.id == changed_by.id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    with write_transaction():
        user.active = active
        user.rotate_session_token()  # ends every open session of the account
        user.updated_at = utcnow()
        withdrawn = []
        if not active:
            user.feed_token_hash = None
            withdrawn = enrollment.withdraw_all(user, DEACTIVATION_REASON, by=changed_by)
        user.save()
        audit.record(
            "account_reactivated" if active else "account_deactivated",
            actor=changed_by,
            target=user,
            **({"withdrawn": [e.group_id for e in withdrawn]} if withdrawn else {}),
        )


def deactivation_preview(user: User) -> list:
    """The places that deactivating ``user`` would give up (for the confirmation page)."""
    return enrollment.current_enrollments(user)


def recent_failures(email: str, ip: str) -> tuple[int, int]:
    since = utcnow() - THROTTLE_WINDOW
    failed = LoginAttempt.select().where(~LoginAttempt.succeeded, LoginAttempt.at >= since)
    by_account = failed.where(LoginAttempt.email == email).count()
    by_address = failed.where(LoginAttempt.ip == ip).count()
    return by_account, by_address


MALFORMED_EMAIL = "(malformed)"


def is_email_address(value: str) -> bool:
    """Whether ``value`` is shaped like an email address (no DNS lookup)."""
    try:
        email_validator.validate_email(
            value, check_deliverability=False, globally_deliverable=False
        )
    except email_validator.EmailNotValidError:
        return False
    return True


def authenticate(email: str, password: str, ip: str) -> User:
    """The active user for these credentials; ServiceError / LoginThrottled otherwise.

    Unknown email and wrong password give the same message and cost the same.
    What was typed as the email is stored (attempts, audit) only when it is
    shaped like an address: people do type their password there, and the log
    must not keep it.
    """
    email = normalize_email(email)
    well_formed = is_email_address(email)
    if well_formed:
        attempted = {"email_attempted": email}
    else:
        email, attempted = MALFORMED_EMAIL, {"email_malformed": True}
    by_account, by_address = recent_failures(email, ip)
    if not well_formed:
        # No account has this name: only the address's failures count, so one
        # client's junk cannot throttle everybody else's typing mistakes.
        by_account = 0
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        audit.record("login_throttled", target_type="login", **attempted)
        raise LoginThrottled(
            "Too many failed attempts. For your security, please wait 15 minutes "
            "before trying again."
        )
    user = User.by_email(email) if well_formed else None
    ok = passwords.verify_password(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    with database.atomic():
        LoginAttempt.create(email=email, ip=ip, succeeded=ok)
        if not ok:
            audit.record("login_failed", actor=None, target_type="login", **attempted)
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


def issue_password_link(
    user: User,
    *,
    issued_by: User | None,
    valid_for: datetime.timedelta = passwords.SET_PASSWORD_LINK_LIFETIME,
) -> str:
    """A one-time token for the set-password page (the caller builds the URL).

    Every older unused link of the account stops working: only the newest
    one counts.
    """
    token, hashed = passwords.new_link_token()
    now = utcnow()
    with write_transaction():
        revoked = SetPasswordToken.revoke_open(user, now)
        SetPasswordToken.create(
            user=user,
            token_hash=hashed,
            created_by=issued_by,
            created_at=now,
            expires_at=now + valid_for,
        )
        audit.record("password_link_issued", actor=issued_by, target=user, revoked=revoked)
    return token


def invite(user: User, *, issued_by: User | None) -> str:
    """A set-password link for a new account, emailed as an invitation and returned.

    The caller still shows the link once: a practice without mail hands it over.
    """
    with database.atomic():
        token = issue_password_link(user, issued_by=issued_by)
        messages.invitation(user, token, lifetime=passwords.SET_PASSWORD_LINK_LIFETIME)
    return token


def create_invited(
    email: str, name: str, role: str, *, timezone: str, created_by: User | None, npi: str = ""
) -> tuple[User, str]:
    """Create an account (a provider's with its NPI, if given) and queue its invitation,
    in one transaction: a refused NPI creates nothing."""
    with database.atomic():
        user = create_user(email, name, role, timezone=timezone, created_by=created_by)
        if npi and user.is_provider:
            set_npi(user, npi, by=created_by)
        token = invite(user, issued_by=created_by)
    return user, token


RESET_LINK_LIFETIME = datetime.timedelta(hours=1)


def request_password_reset(email: str, ip: str) -> None:
    """Email a one-hour set-password link when ``email`` is an active account's.

    The caller answers the same whatever happens here, so nobody learns
    which addresses have accounts. Every request counts as a failed
    attempt in the login throttle (per address and per client), so the form
    cannot be used to flood a mailbox or to probe addresses quickly.
    """
    email = normalize_email(email)
    refuse_if_throttled(email, ip)
    user = User.by_email(email)
    with database.atomic():
        LoginAttempt.create(email=email, ip=ip, succeeded=False)
        if user is not None and user.active:
            token = issue_password_link(user, issued_by=None, valid_for=RESET_LINK_LIFETIME)
            messages.password_reset(user, token, lifetime=RESET_LINK_LIFETIME)


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
        # Whatever other link the person still holds is spent with this one.
        SetPasswordToken.revoke_open(row.user, utcnow(), keep_id=row.id)
        user = row.user
        had_password = user.password_hash is not None
        user.password_hash = passwords.hash_password(password)
        user.rotate_session_token()
        user.updated_at = utcnow()
        user.save()
        audit.record("password_link_used", actor=user, target=user)
        if had_password:  # a first password (an invitation) changes nothing to warn about
            messages.password_changed(user)
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


# --- The user's own account: profile, password, two-factor sign-in ----------------
#
# Every change here is audited with ids and field names only: never a
# password, a TOTP secret, a code or a recovery code.

TIME_FORMATS = ("12h", "24h")
WRONG_PASSWORD = "That is not your current password."
WRONG_CODE = "That code is not valid. Check the time on your phone and try again."
THROTTLED = (
    "Too many failed attempts. For your security, please wait 15 minutes before trying again."
)


def refuse_if_throttled(email: str, ip: str) -> None:
    """The login throttle, for every other place a password or a code is checked."""
    by_account, by_address = recent_failures(email, ip)
    if by_account >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
        audit.record("login_throttled", target_type="login", email_attempted=email)
        raise LoginThrottled(THROTTLED)


def check_password(user: User, password: str, ip: str, *, purpose: str, field: str) -> None:
    """Refuse unless ``password`` is the user's own; failures count toward the throttle."""
    refuse_if_throttled(user.email, ip)
    if passwords.verify_password(user.password_hash, password):
        return
    with database.atomic():
        LoginAttempt.create(email=user.email, ip=ip, succeeded=False)
        audit.record("verification_failed", target=user, check="password", purpose=purpose)
    raise ServiceError(WRONG_PASSWORD, field)


def update_profile(user: User, *, reminder_choices: list[int], **fields) -> User:
    """A person's own preferences: time zone, clock, reminders (audited as account_changed)."""
    if fields.get("time_format") not in (None, *TIME_FORMATS):
        raise ServiceError("Choose a 12-hour or a 24-hour clock.", "time_format")
    if "reminder_hours" in fields and fields["reminder_hours"] not in reminder_choices:
        hours = ", ".join(str(h) for h in reminder_choices)
        raise ServiceError(f"Choose one of the practice's lead times: {hours}.", "reminder_hours")
    return update_user(user, changed_by=user, **fields)


def change_password(user: User, current: str, new: str, ip: str) -> User:
    """Change one's own password and end every other session of the account.

    The session token rotates, so every cookie of the account stops working;
    the view logs the current browser in again with the new token. The
    "password changed" notice is queued in the same transaction (a reset
    link's use queues it too, in ``use_password_link``).
    """
    check_password(user, current, ip, purpose="change_password", field="current_password")
    if problem := passwords.password_problem(new):
        raise ServiceError(problem, "password")
    with database.atomic():
        user.password_hash = passwords.hash_password(new)
        user.rotate_session_token()
        user.updated_at = utcnow()
        user.save(only=[User.password_hash, User.session_token, User.updated_at])
        audit.record("password_changed", actor=user, target=user)
        messages.password_changed(user)
    return user


def begin_two_factor(user: User) -> None:
    """A new secret to enrol; it counts only once a code confirms it."""
    if user.two_factor_enabled:
        raise ServiceError("Two-factor sign-in is already on.")
    user.totp_secret = two_factor.new_secret()
    user.totp_last_step = None
    user.save(only=[User.totp_secret, User.totp_last_step])


def _claim_step(user: User, code: str) -> bool:
    """Accept a TOTP code at most once: only one UPDATE can move the last step past it."""
    step = two_factor.accepted_step(user.totp_secret, code, utcnow(), user.totp_last_step)
    if step is None:
        return False
    claimed = (
        User.update(totp_last_step=step)
        .where(
            User.id == user.id,
            User.totp_last_step.is_null() | (User.totp_last_step < step),
        )
        .execute()
    )
    if claimed:
        user.totp_last_step = step
    return bool(claimed)


def _store_recovery_codes(user: User) -> list[str]:
    codes = two_factor.new_recovery_codes()
    user.recovery_code_hashes = " ".join(two_factor.recovery_digest(c) for c in codes)
    user.save(only=[User.recovery_code_hashes])
    return codes


def confirm_two_factor(user: User, code: str) -> list[str]:
    """Switch two-factor sign-in on once a code from the app matches; the recovery codes."""
    if not user.two_factor_pending:
        raise ServiceError("Start the set-up again: there is no code to confirm.")
    with database.atomic():
        if not _claim_step(user, two_factor.normalize(code)):
            raise ServiceError(WRONG_CODE, "code")
        user.two_factor_since = utcnow()
        user.save(only=[User.two_factor_since])
        codes = _store_recovery_codes(user)
        audit.record("two_factor_enabled", actor=user, target=user)
    return codes


def replace_recovery_codes(user: User, password: str, ip: str) -> list[str]:
    """Ten fresh recovery codes (the old ones stop working); needs the password."""
    if not user.two_factor_enabled:
        raise ServiceError("Two-factor sign-in is off.")
    check_password(user, password, ip, purpose="recovery_codes", field="password")
    with database.atomic():
        codes = _store_recovery_codes(user)
        audit.record("recovery_codes_created", actor=user, target=user)
    return codes


def _clear_two_factor(user: User) -> None:
    user.totp_secret = None
    user.two_factor_since = None
    user.totp_last_step = None
    user.recovery_code_hashes = ""


def disable_two_factor(user: User, password: str, ip: str, *, required: bool) -> None:
    """Turn two-factor sign-in off; needs the password. Refused when the practice requires it."""
    if required:
        raise ServiceError("The practice requires two-factor sign-in for staff accounts.")
    check_password(user, password, ip, purpose="disable_two_factor", field="password")
    with database.atomic():
        _clear_two_factor(user)
        user.updated_at = utcnow()
        user.save()
        audit.record("two_factor_disabled", actor=user, target=user)


def reset_two_factor(user: User, *, reset_by: User) -> None:
    """An admin clears a lost second factor; the person's sessions end and they enrol again."""
    if not (user.two_factor_enabled or user.two_factor_pending):
        raise ServiceError(f"{user.name} has no second factor to reset.")
    with database.atomic():
        _clear_two_factor(user)
        user.rotate_session_token()
        user.updated_at = utcnow()
        user.save()
        audit.record("two_factor_reset", actor=reset_by, target=user)


def _use_recovery_code(user: User, code: str) -> bool:
    digest = two_factor.recovery_digest(code)
    stored = user.recovery_code_hashes
    if digest not in stored.split():
        return False
    left = " ".join(h for h in stored.split() if h != digest)
    # Compare-and-swap: of two logins racing with one code, only one wins.
    claimed = (
        User.update(recovery_code_hashes=left)
        .where(User.id == user.id, User.recovery_code_hashes == stored)
        .execute()
    )
    if claimed:
        user.recovery_code_hashes = left
    return bool(claimed)


def verify_second_factor(user: User, code: str, ip: str) -> str:
    """The login's second step: "totp" or "recovery" when ``code`` is accepted.

    Throttled with the password failures (same window and limits); a refused
    code is audited as a failed login.
    """
    refuse_if_throttled(user.email, ip)
    code = two_factor.normalize(code)
    with database.atomic():
        if two_factor.looks_like_totp(code):
            method = "totp" if _claim_step(user, code) else None
        else:
            method = "recovery" if _use_recovery_code(user, code) else None
        LoginAttempt.create(email=user.email, ip=ip, succeeded=method is not None)
        if method is None:
            audit.record("login_failed", actor=None, target=user, step="second_factor")
        elif method == "recovery":
            audit.record(
                "recovery_code_used", actor=user, target=user, left=user.recovery_codes_left()
            )
    if method is None:
        raise ServiceError(WRONG_CODE, "code")
    return method
