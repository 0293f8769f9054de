"""Template helpers every page uses (groups/navigation.py)."""

from __future__ import annotations

import pytest
from flask import url_for

from groups.navigation import link_for


def test_link_for_builds_the_same_urls_as_url_for(app):
    with app.test_request_context("/", base_url="https://clinic.example.org/app"):
        member_link = link_for("groups.member_record", "member_id", group_id=7)
        session_link = link_for("sessions.detail", "session_id")
        for row_id in (1, 42, 2**63 - 2):
            assert member_link(row_id) == url_for(
                "groups.member_record", group_id=7, member_id=row_id
            )
            assert session_link(row_id) == url_for("sessions.detail", session_id=row_id)
        assert session_link(5) == "/app/sessions/5"


def test_link_for_refuses_what_is_not_an_id(app):
    with app.test_request_context("/"):
        session_link = link_for("sessions.detail", "session_id")
        with pytest.raises(ValueError):
            session_link("5/../../admin")
