"""Password policy and hashing (argon2id), and one-time set-password links."""

from __future__ import annotations

import datetime
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
SET_PASSWORD_LINK_LIFETIME = datetime.timedelta(hours=72)

# argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane):
# about 0.2 s per login on this 2-core class of machine, so a burst of logins
# cannot starve the workers, while still costing an attacker 19 MiB a guess.
ARGON2_TIME_COST = 2
ARGON2_MEMORY_KIB = 19456
hasher = PasswordHasher(time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=1)

# Verified when the email is unknown, so both paths cost the same time.
_DUMMY_HASH = hasher.hash("not a real password, only for timing")


def password_problem(password: str) -> str | None:
    """The reason a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters."
    if password.strip() == "" or len(set(password)) < 4:
        return "Choose a password that is not one repeated character."
    return None


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        _burn(password)
        return False
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _burn(password: str) -> None:
    try:
        hasher.verify(_DUMMY_HASH, password)
    except VerificationError:
        pass


def new_link_token() -> tuple[str, str]:
    """A random URL token (256 bits) and the hash that is stored instead of it."""
    token = secrets.token_urlsafe(32)
    return token, link_token_hash(token)


def link_token_hash(token: str) -> str:
    """What is stored of a set-password link token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()
