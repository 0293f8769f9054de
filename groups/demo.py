"""Demo data: a small practice to click through, or a large one for benchmarks."""

from __future__ import annotations

from .db import database
from .models import User
from .passwords import hash_password

DEMO_PASSWORD = "demo-password-2026"


class DemoError(RuntimeError):
    pass


def load_demo(scale: str = "small") -> str:
    if User.select().exists():
        raise DemoError(
            "The database already has accounts; demo data is only loaded into an empty "
            "database. Use a new DATABASE_URL or delete instance/groups.db first."
        )
    password_hash = hash_password(DEMO_PASSWORD)
    with database.atomic():
        User.create(
            email="admin@example.org", name="Alex Admin", role="admin", password_hash=password_hash
        )
        User.create(
            email="provider@example.org",
            name="Dr. Priya Raman",
            role="provider",
            password_hash=password_hash,
        )
        User.create(
            email="member@example.org",
            name="Morgan Lee",
            role="member",
            password_hash=password_hash,
        )
    return demo_logins()


def demo_logins() -> str:
    return "\n".join(
        [
            "Demo logins (password for all: " + DEMO_PASSWORD + "):",
            "  admin     admin@example.org",
            "  provider  provider@example.org",
            "  member    member@example.org",
        ]
    )
