"""Configuration from the environment.

``APP_ENV`` is ``development`` (the default, used by ``make run`` and tests)
or ``production``. Outside development ``SECRET_KEY`` is required, cookies
are sent only over HTTPS, and ``MAIL_URL`` must say where mail goes (or be
``none``): a production app never writes member mail to local files.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from email.utils import parseaddr
from pathlib import Path

# Printed on every handout; a practice outside the US sets its own line.
DEFAULT_CRISIS_TEXT = "Call or text 988 (US), or 911 in an emergency"
# The accepted MAIL_URL forms besides "none" (groups/mail/transports.py reads them).
MAIL_URL_SCHEMES = ("smtp://", "smtp+starttls://", "smtps://")


class ConfigError(RuntimeError):
    """Start-up cannot continue; the message says what to set."""


def reminder_hours(value: str | None) -> tuple[int, ...]:
    """REMINDER_HOURS ("24", "48,2"): whole hours before a session, longest first."""
    parts = [p.strip() for p in (value or "24").split(",") if p.strip()]
    if not parts or not all(p.isdigit() and 1 <= int(p) <= 14 * 24 for p in parts):
        raise ConfigError(
            f"REMINDER_HOURS must be whole hours between 1 and 336, comma-separated "
            f"(e.g. 24 or 48,2), not {value!r}"
        )
    return tuple(sorted({int(p) for p in parts}, reverse=True))


def development_secret(instance_path: str) -> str:
    """A random secret generated once and kept in the instance folder."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def flag(name: str, *, default: bool) -> bool:
    """The yes/no setting ``name``: 1/true/yes/on or 0/false/no/off; anything else is refused."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), not {value!r}")


def hours(name: str, *, default: int) -> int:
    """The setting ``name``: whole hours, at least 1; anything else is refused at start-up."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 24 * 365:
        raise ConfigError(f"{name} must be a whole number of hours from 1 to 8760, not {value!r}")
    return int(value)


def code(name: str, *, default: str, pattern: str, shape: str) -> str:
    """The billing code setting ``name`` (CPT, place of service): refused unless it fits."""
    value = os.environ.get(name, "").strip().upper() or default
    if not re.fullmatch(pattern, value):
        raise ConfigError(f"{name} must be {shape}, not {value!r}")
    return value


def place_of_service(name: str, *, default: str) -> str:
    """The place of service code setting ``name``: two digits."""
    return code(
        name,
        default=default,
        pattern=r"[0-9]{2}",
        shape=f"a two-digit place of service code such as {default}",
    )


def modifiers(name: str, *, default: str) -> str:
    """The setting ``name``: CPT modifiers, space or comma separated, each two letters or
    digits; "none" for none."""
    value = os.environ.get(name, "").strip().upper() or default
    if value == "NONE":
        return ""
    parts = [p for p in re.split(r"[\s,]+", value) if p]
    if len(parts) > 4 or not all(re.fullmatch(r"[0-9A-Z]{2}", p) for p in parts):
        raise ConfigError(
            f"{name} must be up to four two-character modifiers (e.g. 95 or 95,GT), "
            f"or none, not {value!r}"
        )
    return " ".join(parts)


def from_environment(instance_path: str) -> dict:
    env = os.environ.get("APP_ENV", "development")
    if env not in ("development", "production"):
        raise ConfigError(f"APP_ENV must be 'development' or 'production', not {env!r}")
    development = env == "development"
    secret = os.environ.get("SECRET_KEY")
    if not secret:
        if not development:
            raise ConfigError(
                "SECRET_KEY is not set. Outside development (APP_ENV=production) the app "
                "needs a long random SECRET_KEY in the environment, e.g. "
                "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        secret = development_secret(instance_path)
    time_format = os.environ.get("TIME_FORMAT", "12h")
    if time_format not in ("12h", "24h"):
        raise ConfigError(f"TIME_FORMAT must be '12h' or '24h', not {time_format!r}")
    mail_url = os.environ.get("MAIL_URL", "").strip()
    if not mail_url and not development:
        raise ConfigError(
            "MAIL_URL is not set. In production say where mail goes, e.g. "
            "MAIL_URL=smtp+starttls://user:password@mail.example.org:587, "
            "or MAIL_URL=none to send no mail at all."
        )
    if mail_url and mail_url != "none" and not mail_url.startswith(MAIL_URL_SCHEMES):
        raise ConfigError(
            f"MAIL_URL must be none or start with smtp://, smtp+starttls:// or smtps://, "
            f"not {mail_url.split('://', 1)[0]!r}"
        )
    base_url = os.environ.get("BASE_URL", "").strip().rstrip("/")
    if not base_url and not development:
        raise ConfigError(
            "BASE_URL is not set. In production the app needs its public address for the "
            "links it sends out (calendar feeds, set-password links, mail), e.g. "
            "BASE_URL=https://groups.example.org"
        )
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"BASE_URL must start with https:// or http://, not {base_url!r}")
    mail_from = os.environ.get("MAIL_FROM", "noreply@localhost").strip()
    if "@" not in parseaddr(mail_from)[1]:
        raise ConfigError(
            f"MAIL_FROM must be an address like clinic@example.org or "
            f"'Riverside Psychiatry <clinic@example.org>', not {mail_from!r}"
        )
    return {
        "APP_ENV": env,
        "DEVELOPMENT": development,
        "SECRET_KEY": secret,
        "DATABASE_URL": os.environ.get("DATABASE_URL", "sqlite:///instance/groups.db"),
        "PRACTICE_NAME": os.environ.get("PRACTICE_NAME", "Riverside Psychiatry"),
        "PRACTICE_TIMEZONE": os.environ.get("PRACTICE_TIMEZONE", "America/New_York"),
        # "" (development only): links use the request's host (groups/urls.py).
        "BASE_URL": base_url,
        # Printed on handouts: the phone only when set, the crisis line always.
        "PRACTICE_PHONE": os.environ.get("PRACTICE_PHONE", "").strip() or None,
        "CRISIS_TEXT": os.environ.get("CRISIS_TEXT", "").strip() or DEFAULT_CRISIS_TEXT,
        # Outcomes (docs/outcomes.md): a member's check-in opens this many hours
        # before a session (and closes at its end); an unacknowledged safety
        # alert notifies the group's staff again after this many hours. The
        # member's crisis card reuses PRACTICE_PHONE and CRISIS_TEXT.
        "CHECKIN_OPENS_HOURS": hours("CHECKIN_OPENS_HOURS", default=48),
        "SAFETY_REMIND_HOURS": hours("SAFETY_REMIND_HOURS", default=4),
        # Charge lines (docs/clinical-notes.md): the procedure code of a group
        # psychotherapy session, and the modifiers and place of service of a
        # telehealth session (the member at home) and of one in the practice.
        "CHARGE_CPT": code(
            "CHARGE_CPT",
            default="90853",
            pattern=r"[0-9]{4}[0-9A-Z]",
            shape="a five-character CPT code such as 90853",
        ),
        "CHARGE_TELEHEALTH_MODIFIERS": modifiers(
            "CHARGE_TELEHEALTH_MODIFIERS",
            default="95",
        ),
        "CHARGE_TELEHEALTH_POS": place_of_service("CHARGE_TELEHEALTH_POS", default="10"),
        "CHARGE_IN_PERSON_POS": place_of_service("CHARGE_IN_PERSON_POS", default="11"),
        # Number of proxies in front of the app whose X-Forwarded-For is trusted.
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES", "0")),
        # Rendered handout PDFs, keyed by content: per host, safe to delete.
        "PDF_CACHE_DIR": os.environ.get("PDF_CACHE_DIR") or str(Path(instance_path) / "pdf-cache"),
        # Its size cap in megabytes (0 switches the cache off); the least recently
        # used PDFs are evicted first.
        "PDF_CACHE_MAX_MB": int(os.environ.get("PDF_CACHE_MAX_MB", "512")),
        # "" (development only): each message becomes a file in MAIL_OUTBOX_DIR.
        "MAIL_URL": mail_url,
        "MAIL_FROM": mail_from,
        "MAIL_OUTBOX_DIR": str(Path(instance_path) / "outbox"),
        # Lead times of session reminders; each member picks one on their profile.
        "REMINDER_HOURS": reminder_hours(os.environ.get("REMINDER_HOURS")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": not development,
        "REMEMBER_COOKIE_DURATION": datetime.timedelta(hours=12),
        "IDLE_TIMEOUT": datetime.timedelta(minutes=30),
        "ABSOLUTE_TIMEOUT": datetime.timedelta(hours=12),
        "WTF_CSRF_TIME_LIMIT": None,  # the session's own limits apply
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # The clock for people who have not chosen one on their profile.
        "TIME_FORMAT": time_format,
        # Admins and providers read member records: in production they must
        # enrol a second factor at their next login (docs/accounts.md).
        "REQUIRE_STAFF_2FA": flag("REQUIRE_STAFF_2FA", default=not development),
    }
