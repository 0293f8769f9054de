"""TOTP codes (RFC 6238, via pyotp), recovery codes and the enrollment QR code.

Pure functions with no database: ``services/accounts.py`` owns the
transactions that store what these compute.

- A TOTP code is accepted for the current 30-second step and one step either
  side (clock drift), and only for a step later than the last one accepted
  for that person, so a code seen over a shoulder cannot be used again.
- Recovery codes carry 80 random bits each. That is far beyond guessing, so a
  fast sha256 digest is enough to store them (as for set-password links):
  argon2 exists to protect low-entropy human passwords, and ten argon2 checks
  per attempt would only hand an attacker a way to load the server.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import secrets

import pyotp
import segno

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits, written as 20 hex digits in four groups
DRIFT_STEPS = 1
_SEPARATORS = re.compile(r"[\s-]+")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG markup: paths only, no script and no style."""
    return segno.make(uri, error="m").svg_inline(scale=4, light="#fff", title="QR code")


def spaced(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalize(code: str) -> str:
    return _SEPARATORS.sub("", code or "").lower()


def looks_like_totp(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


def accepted_step(
    secret: str, code: str, now: datetime.datetime, last_step: int | None
) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_step``."""
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def code_at(secret: str, when: datetime.datetime) -> str:
    """The code an authenticator app shows at ``when`` (tests and the demo use it)."""
    return pyotp.TOTP(secret).at(when)


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        digits = secrets.token_hex(RECOVERY_CODE_BYTES)
        codes.append("-".join(digits[i : i + 5] for i in range(0, len(digits), 5)))
    return codes


def recovery_digest(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()
