"""Who reaches what: every URL rule of the app, discovered from ``app.url_map``.

New blueprints are covered without touching this file: anonymous visitors are
sent to /login from every rule outside the allow-list, and every view guarded
by ``role_required`` answers 403 to the roles it does not name.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from groups import create_app
from groups.models import ROLES

# Reachable without logging in.
PUBLIC_RULES = {"/login", "/forgot-password", "/healthz"}
PUBLIC_PREFIXES = ("/static/",)
# Secret-token URLs: a wrong token is 401 or 404, never a login page (no session).
TOKEN_SEGMENTS = ("/set-password/", "/feed/")

CONVERTER_VALUES = {"int": "1", "float": "1.0", "uuid": "00000000-0000-0000-0000-000000000001"}
SECRET_EMAIL = "private.person@example.org"
SECRET_NAME = "Prudence Private"


def discover_rules() -> list[tuple[str, str, str, tuple[str, ...] | None]]:
    """(rule, endpoint, method, allowed roles or None) for every rule and method."""
    never_opened = Path(tempfile.gettempdir()) / "groups-url-map-only.db"
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "collect", "DATABASE_URL": f"sqlite:///{never_opened}"}
    )
    found = []
    for rule in app.url_map.iter_rules():
        roles = getattr(app.view_functions[rule.endpoint], "allowed_roles", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, rule.endpoint, method, roles))
    return sorted(found)


RULES = discover_rules()


def fill(rule: str) -> str:
    """A concrete URL for a rule: 1 for <int:...>, "x" for strings and paths."""

    def value(match: re.Match) -> str:
        converter, args = match.group(1), match.group(2)
        if converter == "any":  # <any(up, down):action>: the first choice
            return args.split(",")[0].strip().strip("'\"")
        return CONVERTER_VALUES.get(converter, "x")

    return re.sub(r"<(?:(\w+)(?:\(([^)]*)\))?:)?\w+>", value, rule)


def is_public(rule: str) -> bool:
    return rule in PUBLIC_RULES or rule.startswith(PUBLIC_PREFIXES)


def is_token_url(rule: str) -> bool:
    return any(segment in rule for segment in TOKEN_SEGMENTS)


def rule_id(case) -> str:
    return f"{case[2]} {case[0]}"


def test_discovery_sees_the_foundation_rules():
    assert PUBLIC_RULES <= {rule for rule, _, _, _ in RULES}
    endpoints = {endpoint for _, endpoint, _, _ in RULES}
    assert {"auth.login", "auth.logout", "auth.set_password", "main.index", "main.healthz"} <= (
        endpoints
    )
    assert {"admin.users", "admin.create_user", "admin.update_user", "admin.audit_log"} <= endpoints
    assert fill("/groups/<int:group_id>/sessions/<int:session_id>") == "/groups/1/sessions/1"
    assert fill("/set-password/<token>") == "/set-password/x"
    assert fill("/groups/<int:group_id>/<any(up, down):action>") == "/groups/1/up"
    assert fill("/feed/<string(length=43):token>.ics") == "/feed/x.ics"


@pytest.mark.parametrize("case", RULES, ids=rule_id)
def test_anonymous_visitors_get_no_data(client, make_user, case):
    rule, endpoint, method, _ = case
    make_user("member", email=SECRET_EMAIL, name=SECRET_NAME)  # id 1: what <int> points at
    response = client.open(fill(rule), method=method)
    body = response.get_data(as_text=True)
    assert SECRET_EMAIL not in body
    assert SECRET_NAME not in body
    if is_public(rule):
        assert response.status_code < 500
    elif is_token_url(rule):
        assert response.status_code in (401, 404)
    else:
        assert response.status_code == 302, f"{method} {rule} answered {response.status_code}"
        assert urlsplit(response.headers["Location"]).path == "/login"


# --- role x endpoint -----------------------------------------------------------

ADMIN_RULES = [case for case in RULES if case[1].startswith("admin.")]
OTHER_GUARDED_RULES = [
    (case, role)
    for case in RULES
    if case[3] and not case[1].startswith("admin.")
    for role in ROLES
    if role not in case[3]
]


def test_admin_rules_are_discovered():
    endpoints = {endpoint for _, endpoint, _, _ in ADMIN_RULES}
    assert {"admin.index", "admin.users", "admin.set_active", "admin.password_link"} <= endpoints


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", ADMIN_RULES, ids=rule_id)
def test_admin_endpoints_by_role(client, as_role, case, role):
    rule, endpoint, method, _ = case
    as_role(role)  # the first user: id 1, what <int> points at
    response = client.open(fill(rule), method=method)
    if role != "admin":
        assert response.status_code == 403
    elif method == "GET" and "<" not in rule:
        assert response.status_code == 200
    elif method == "GET":
        assert response.status_code in (200, 404)  # 404 when no row has id 1
    else:
        assert response.status_code not in (401, 403)
        assert response.status_code < 500


@pytest.mark.parametrize(
    "case, role",
    OTHER_GUARDED_RULES,
    ids=[f"{rule_id(case)} as {role}" for case, role in OTHER_GUARDED_RULES],
)
def test_roles_outside_role_required_get_403(client, as_role, case, role):
    rule, endpoint, method, _ = case
    as_role(role)
    assert client.open(fill(rule), method=method).status_code == 403


def test_admin_can_view_a_user(client, as_role, make_user):
    as_role("admin")
    member = make_user("member", email=SECRET_EMAIL)
    response = client.get(f"/admin/users/{member.id}")
    assert response.status_code == 200
    assert SECRET_EMAIL in response.text
