"""Private calendar feeds: tokens, what a feed holds, privacy, HTTP caching.

The pure builder has its own tests (test_calendars_builder.py); these go
through the real pages and the ``/feed/<token>.ics`` endpoint.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from werkzeug.http import http_date

from groups.models import AuditLog, ChangeCounter, Enrollment, Module, SessionNote, User
from groups.services import accounts, feeds, schedule
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from tests.checks import FOCUS_WORDS, count_queries, session_uid, token_from_page, uids, vevents
from tests.world import NOW, add_sessions, enroll, login, make_group

WEEK = datetime.timedelta(weeks=1)


@pytest.fixture
def clock(frozen_time):
    frozen_time.set(NOW)
    return frozen_time


@pytest.fixture
def practice(clock, make_user):
    """A provider's anxiety group with a member, another member, past and future sessions."""
    provider = make_user("provider", name="Dr. Ada Lovelace")
    member = make_user("member", name="Morgan Lee", email="morgan@example.org")
    other = make_user("member", name="Riley Quinn", email="riley.quinn@example.org")
    group = make_group(provider, "Tuesday Calm Circle")
    past = add_sessions(group, NOW - 2 * WEEK, 2)
    future = add_sessions(group, NOW + datetime.timedelta(days=1), 3)
    enroll(group, member)
    enroll(group, other)
    return {
        "provider": provider,
        "member": member,
        "other": other,
        "group": group,
        "past": past,
        "future": future,
    }


def create_link(client, user) -> str:
    login(client, user)
    response = client.post("/calendar/link")
    assert response.status_code == 200
    return token_from_page(response.get_data(as_text=True))


def fetch(client, token, **headers):
    return client.get(f"/feed/{token}.ics", headers=headers)


# --- tokens ---------------------------------------------------------------


def test_token_is_random_256_bits_and_stored_only_hashed(client, practice):
    member = practice["member"]
    token = create_link(client, member)
    assert len(token) == 43  # secrets.token_urlsafe(32)
    stored = User.get_by_id(member.id)
    assert stored.feed_token_hash == hashlib.sha256(token.encode()).hexdigest()
    row = User.select().where(User.id == member.id).dicts().get()
    assert not any(token in str(value) for value in row.values())
    assert not AuditLog.select().where(AuditLog.detail.contains(token)).exists()
    rotated = AuditLog.get(AuditLog.action == "feed_token_rotated")
    assert rotated.target_id == member.id and rotated.actor_id == member.id


def test_page_shows_https_and_webcal_forms_with_copy_buttons(client, practice):
    login(client, practice["member"])
    response = client.post("/calendar/link")
    html = response.get_data(as_text=True)
    token = token_from_page(html)
    assert f'value="http://localhost/feed/{token}.ics"' in html
    assert f'value="webcal://localhost/feed/{token}.ics"' in html
    assert 'data-copy="feed-https"' in html and 'data-copy="feed-webcal"' in html
    for app_name in ("Google", "Apple", "Outlook"):
        assert app_name in html
    # Afterwards the page cannot show it again: only the hash is kept.
    later = client.get("/calendar").get_data(as_text=True)
    assert token not in later
    assert "Create a new link" in later and "stops working" in later


def test_feed_serves_the_members_sessions(client, practice):
    token = create_link(client, practice["member"])
    response = fetch(client, token)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["ETag"].startswith('"')
    assert response.headers["Last-Modified"]
    sessions = practice["past"] + practice["future"]
    assert uids(response.data) == {session_uid(s) for s in sessions}
    event = next(e for e in vevents(response.data) if str(e["UID"]) == session_uid(sessions[0]))
    assert str(event["URL"]) == f"http://localhost/sessions/{sessions[0].id}"
    assert str(event["LOCATION"]) == "Room 2, Riverside clinic"
    assert event["SEQUENCE"] == 0
    assert event["DTSTART"].params["TZID"] == "America/Los_Angeles"


def test_feed_reaches_back_to_midnight_utc_180_days_ago(client, practice):
    """A whole day, so one day's polls select the same sessions (and share a fingerprint)."""
    cutoff = datetime.datetime.combine(
        (NOW - datetime.timedelta(days=180)).date(), datetime.time(), datetime.UTC
    )
    kept = add_sessions(practice["group"], cutoff + datetime.timedelta(hours=1), 1)
    dropped = add_sessions(practice["group"], cutoff - datetime.timedelta(hours=1), 1)
    data = fetch(client, create_link(client, practice["member"])).data
    assert session_uid(kept[0]) in uids(data)
    assert session_uid(dropped[0]) not in uids(data)


def test_feed_needs_no_login(app, practice):
    token = create_link(app.test_client(), practice["member"])
    fresh = app.test_client()  # a calendar app: no cookies at all
    assert fetch(fresh, token).status_code == 200


def test_rotation_kills_the_old_url_and_all_bad_tokens_look_the_same(app, client, practice):
    old = create_link(client, practice["member"])
    new = token_from_page(client.post("/calendar/link").get_data(as_text=True))
    assert old != new
    feed_client = app.test_client()
    assert fetch(feed_client, new).status_code == 200
    answers = [
        fetch(feed_client, old),  # rotated away
        fetch(feed_client, "A" * 43),  # well-formed, unknown
        fetch(feed_client, new[:-1]),  # malformed: too short
        fetch(feed_client, new + "x"),  # malformed: too long
        fetch(feed_client, "not%20a%20token"),
        feed_client.get(f"/feed/{new}.ics.bak"),  # not even the feed's URL shape
        feed_client.get(f"/feed/{new[:20]}/{new[20:]}.ics"),
        feed_client.get(f"/feed/{new}"),
    ]
    assert {r.status_code for r in answers} == {404}
    assert len({r.data for r in answers}) == 1
    assert len({r.headers["Content-Type"] for r in answers}) == 1
    assert b"token" not in answers[0].data.lower()


def test_turning_the_link_off(app, client, practice):
    token = create_link(client, practice["member"])
    response = client.post("/calendar/link/off", follow_redirects=True)
    assert "turned off" in response.get_data(as_text=True)
    assert User.get_by_id(practice["member"].id).feed_token_hash is None
    assert fetch(app.test_client(), token).status_code == 404


def test_deactivated_account_gets_404_and_the_same_body(app, client, make_user, practice):
    token = create_link(client, practice["member"])
    admin = make_user("admin")
    accounts.set_active(User.get_by_id(practice["member"].id), False, changed_by=admin)
    response = fetch(app.test_client(), token)
    assert response.status_code == 404
    assert response.data == fetch(app.test_client(), "B" * 43).data


def test_admins_have_no_feed(client, make_user):
    login(client, make_user("admin"))
    assert client.get("/calendar").status_code == 403
    assert client.post("/calendar/link").status_code == 403


def test_rotating_needs_csrf(app, client, practice):
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, practice["member"])
    response = client.post("/calendar/link")
    assert response.status_code == 400
    assert User.get_by_id(practice["member"].id).feed_token_hash is None


def test_subscription_page_needs_login(client):
    response = client.get("/calendar")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/calendar/link").status_code == 302


# --- what a member feed holds ---------------------------------------------------


def test_withdrawn_members_sessions_leave_the_feed(app, client, practice, make_user):
    member = practice["member"]
    second = make_group(practice["provider"], "Thursday Evening Group", focus="depression")
    kept = add_sessions(second, NOW + 3 * WEEK, 2)
    enroll(second, member)
    token = create_link(client, member)
    feed_client = app.test_client()
    before = fetch(feed_client, token)
    assert {session_uid(s) for s in practice["future"]} <= uids(before.data)

    enrollment = Enrollment.get(Enrollment.member == member, Enrollment.group == practice["group"])
    enrollment_service.withdraw(enrollment, "moved away", by=practice["provider"])
    after = fetch(feed_client, token, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    # Future sessions leave; past ones go too (documented in services/feeds.py):
    # the member's schedule and session pages stop showing the group as well.
    assert uids(after.data) == {session_uid(s) for s in kept}
    assert after.headers["ETag"] != before.headers["ETag"]


def test_if_modified_since_alone_sees_a_withdrawal(app, client, practice, clock, quiet):
    member = practice["member"]
    token = create_link(client, member)
    first = fetch(app.test_client(), token)
    clock.advance(minutes=5)
    enrollment = Enrollment.get(Enrollment.member == member)
    enrollment_service.withdraw(enrollment, "moved away", by=practice["provider"])
    again = fetch(app.test_client(), token, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert again.status_code == 200
    assert uids(again.data) == set()


def test_waitlisted_groups_are_not_in_the_feed(app, client, practice, make_user):
    member = practice["member"]
    full = make_group(practice["provider"], "Full Group")
    waiting = add_sessions(full, NOW + WEEK, 1)
    enroll(full, member, status="waitlisted")
    token = create_link(client, member)
    assert session_uid(waiting[0]) not in uids(fetch(app.test_client(), token).data)


def test_cancelled_sessions_stay_with_their_reason(app, client, practice):
    session = practice["future"][0]
    with app.app_context():  # the change queues mail to members
        schedule.cancel_session(session, "Facilitator unwell", by=practice["provider"])
    token = create_link(client, practice["member"])
    event = next(
        e
        for e in vevents(fetch(app.test_client(), token).data)
        if str(e["UID"]) == session_uid(session)
    )
    assert str(event["STATUS"]) == "CANCELLED"
    assert "Facilitator unwell" in str(event["DESCRIPTION"])
    assert str(event["SUMMARY"]) == "Cancelled: Group session"
    assert event["SEQUENCE"] == 1


def test_member_feed_reveals_no_focus_group_name_or_other_people(app, client, practice, make_user):
    member, other = practice["member"], practice["other"]
    provider = practice["provider"]
    for focus, name in (("depression", "Mood Lifters"), ("adhd", "Focus Friends")):
        group = make_group(provider, name, focus=focus, description=f"For {focus}")
        add_sessions(group, NOW + WEEK, 2)
        enroll(group, member)
        enroll(group, other)
    SessionNote.create(session=practice["future"][0], text="private-note-text")
    token = create_link(client, member)
    data = fetch(app.test_client(), token).data
    text = data.decode().lower()
    for word in (*FOCUS_WORDS, "tuesday calm circle", "mood lifters", "focus friends"):
        assert word not in text, word
    for secret in (
        other.name,
        other.email,
        member.name,
        member.email,
        provider.name,
        "private-note-text",
        "understanding",
    ):
        assert secret.lower() not in text, secret
    assert "ATTENDEE" not in data.decode() and "ORGANIZER" not in data.decode()
    events = vevents(data)
    assert {str(e["SUMMARY"]) for e in events} == {"Group session"}
    cal_lines = data.decode().split("\r\n")
    assert "X-WR-CALNAME:Test Practice" in cal_lines


def test_member_can_opt_in_to_group_names(app, client, practice):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    before = fetch(feed_client, token)
    response = client.post("/calendar/settings", data={"show_group_names": "y"})
    assert response.status_code == 302
    after = fetch(feed_client, token, **{"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert {str(e["SUMMARY"]) for e in vevents(after.data)} == {"Tuesday Calm Circle"}
    assert b"Understanding" not in after.data  # module titles still never appear
    client.post("/calendar/settings", data={})
    assert {str(e["SUMMARY"]) for e in vevents(fetch(feed_client, token).data)} == {"Group session"}


def test_settings_are_for_members_only(client, practice):
    login(client, practice["provider"])
    assert client.post("/calendar/settings", data={"show_group_names": "y"}).status_code == 403


# --- provider feeds ---------------------------------------------------------------


def test_provider_feed_has_own_groups_with_full_titles(app, client, practice, make_user):
    provider = practice["provider"]
    lead_elsewhere = make_user("provider")
    co_group = make_group(lead_elsewhere, "Co-run Group", co=[provider])
    co_sessions = add_sessions(co_group, NOW + WEEK, 1)
    foreign = make_group(lead_elsewhere, "Someone Else's Group")
    foreign_sessions = add_sessions(foreign, NOW + WEEK, 1)
    login(client, provider)
    assert client.get("/calendar").status_code == 200
    token = token_from_page(client.post("/calendar/link").get_data(as_text=True))
    data = fetch(app.test_client(), token).data
    found = uids(data)
    assert session_uid(co_sessions[0]) in found
    assert session_uid(foreign_sessions[0]) not in found
    assert {session_uid(s) for s in practice["future"]} <= found
    summaries = {str(e["SUMMARY"]) for e in vevents(data)}
    assert "Tuesday Calm Circle: Understanding anxiety" in summaries
    for person in (practice["member"], practice["other"]):
        assert person.name.encode() not in data and person.email.encode() not in data


# --- conditional GET ----------------------------------------------------------------


@pytest.fixture
def build_spy(monkeypatch):
    """Counts calendars built (a 304 builds none)."""
    calls = []
    real = feeds.Feed.build

    def spy(self):
        calls.append(1)
        return real(self)

    monkeypatch.setattr(feeds.Feed, "build", spy)
    return calls


@pytest.fixture
def vevent_spy(monkeypatch):
    """Counts VEVENTs serialised (a kept one is not serialised again)."""
    calls = []
    real = feeds.vevent

    def spy(event, host):
        calls.append(event.session_id)
        return real(event, host)

    monkeypatch.setattr(feeds, "vevent", spy)
    return calls


@pytest.fixture
def quiet(app):
    """The calendar data last changed a minute ago (the trigger's clock is the database's).

    Last-Modified has whole seconds: without this, a change in the same
    second as the first fetch could not be told apart by If-Modified-Since.
    """
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
    ChangeCounter.update(changed_at=earlier).execute()


def test_conditional_get_answers_304_without_building(app, client, practice, build_spy, vevent_spy):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    assert first.status_code == 200 and len(build_spy) == 1
    assert len(vevent_spy) == len(practice["past"] + practice["future"])
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]

    again = fetch(feed_client, token, **{"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "private, max-age=300"
    assert fetch(feed_client, token, **{"If-Modified-Since": modified}).status_code == 304
    assert fetch(feed_client, token, **{"If-None-Match": f"W/{etag}"}).status_code == 304
    assert len(build_spy) == 1  # neither 304 built a calendar

    stale = fetch(feed_client, token, **{"If-None-Match": '"something-else"'})
    assert stale.status_code == 200 and stale.data == first.data
    assert len(vevent_spy) == 5  # rebuilt from the kept VEVENTs, none serialised again
    # An ETag that does not match wins over a fresh If-Modified-Since.
    both = fetch(feed_client, token, **{"If-None-Match": '"other"', "If-Modified-Since": modified})
    assert both.status_code == 200


def test_same_data_same_etag_and_bytes(app, client, practice):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    one, two = fetch(feed_client, token), fetch(feed_client, token)
    assert one.headers["ETag"] == two.headers["ETag"] and one.data == two.data


def test_reschedule_changes_etag_and_raises_sequence(app, client, practice, clock, quiet):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    session = practice["future"][1]
    clock.advance(minutes=10)
    new_day = (session.starts_at + datetime.timedelta(days=2)).date()
    with app.app_context():  # the change queues mail to members
        schedule.reschedule_session(
            session, new_day, datetime.time(17, 30), by=practice["provider"]
        )
    after = fetch(feed_client, token, **{"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    old = next(e for e in vevents(first.data) if str(e["UID"]) == session_uid(session))
    new = next(e for e in vevents(after.data) if str(e["UID"]) == session_uid(session))
    assert new["SEQUENCE"] > old["SEQUENCE"]
    assert new["DTSTART"].dt.hour == 17 and new["DTSTART"].dt.minute == 30
    since = fetch(feed_client, token, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 200


def test_group_rename_reaches_a_provider_feed(app, client, practice, clock):
    token = create_link(client, practice["provider"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    group = practice["group"]
    clock.advance(minutes=1)
    fields = {k: getattr(group, k) for k in group_service.GROUP_FIELDS}
    group_service.update_group(
        group, {**fields, "name": "Renamed Circle"}, [], lead=None, by=practice["provider"]
    )
    again = fetch(feed_client, token, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert b"Renamed Circle" in again.data


def test_last_modified_is_the_newest_change(app, client, practice, clock):
    """The newest of the counted calendar change and the member's own settings."""
    token = create_link(client, practice["member"])
    stamp = User.get_by_id(practice["member"].id).updated_at  # the frozen clock's NOW
    ChangeCounter.update(changed_at=NOW - datetime.timedelta(days=1)).execute()
    response = fetch(app.test_client(), token)
    assert response.headers["Last-Modified"] == http_date(stamp.replace(microsecond=0))
    counted = NOW + datetime.timedelta(hours=1)
    ChangeCounter.update(changed_at=counted).execute()
    response = fetch(app.test_client(), token)
    assert response.headers["Last-Modified"] == http_date(counted)


# --- audit and cost ------------------------------------------------------------------


def test_feed_fetches_are_audited_without_the_token(app, client, practice):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    fetch(feed_client, token, **{"If-None-Match": first.headers["ETag"]})
    fetch(feed_client, "C" * 43)
    entries = list(AuditLog.select().where(AuditLog.action == "feed_fetched").order_by(AuditLog.id))
    assert len(entries) == 2
    assert {e.target_id for e in entries} == {practice["member"].id}
    assert ['"status": 200' in entries[0].detail, '"status": 304' in entries[1].detail] == [
        True,
        True,
    ]
    assert not AuditLog.select().where(AuditLog.detail.contains(token[:20])).exists()


def test_feed_query_count_does_not_grow_with_sessions(app, client, practice, make_user):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    with count_queries() as small:
        first = fetch(feed_client, token)
    with count_queries() as small_304:
        fetch(feed_client, token, **{"If-None-Match": first.headers["ETag"]})

    for name in ("Group B", "Group C", "Group D"):
        group = make_group(practice["provider"], name)
        add_sessions(group, NOW - 3 * WEEK, 20)
        enroll(group, practice["member"])
    with count_queries() as large:
        big = fetch(feed_client, token)
    with count_queries() as large_304:
        fetch(feed_client, token, **{"If-None-Match": big.headers["ETag"]})
    assert len(vevents(big.data)) == 5 + 60
    assert large.n == small.n <= 6
    assert large_304.n == small_304.n <= 6


def test_provider_feed_query_count_is_fixed(app, client, practice, make_user):
    token = create_link(client, practice["provider"])
    feed_client = app.test_client()
    with count_queries() as small:
        fetch(feed_client, token)
    for name in ("Group B", "Group C"):
        add_sessions(make_group(practice["provider"], name), NOW, 15)
    with count_queries() as large:
        fetch(feed_client, token)
    assert large.n == small.n


# --- injection through the real views ---------------------------------------------


INJECTED_NAME = "X\r\nATTENDEE:mailto:e@x"


@pytest.mark.parametrize("who", ["member", "provider"])
def test_injected_group_name_stays_text(app, client, make_user, clock, who):
    provider = make_user("provider")
    member = make_user("member", feed_shows_group_names=True)
    group = make_group(provider, INJECTED_NAME, location="Room 1;\r\nLOCATION:evil,\\x")
    session = add_sessions(group, NOW + WEEK, 1)[0]
    enroll(group, member)
    token = create_link(client, member if who == "member" else provider)
    data = fetch(app.test_client(), token).data
    assert b"\r\nATTENDEE" not in data and b"\r\nLOCATION:evil" not in data
    (event,) = vevents(data)
    assert "ATTENDEE" not in event
    assert str(event["UID"]) == session_uid(session)
    assert str(event["LOCATION"]) == "Room 1;\nLOCATION:evil,\\x"
    expected = "X\nATTENDEE:mailto:e@x"
    if who == "provider":
        expected += ": Understanding anxiety"
    assert str(event["SUMMARY"]) == expected
    assert sorted(event.keys()) == sorted(
        [
            "UID",
            "DTSTAMP",
            "LAST-MODIFIED",
            "SEQUENCE",
            "DTSTART",
            "DTEND",
            "SUMMARY",
            "LOCATION",
            "URL",
            "STATUS",
            "CLASS",
            "TRANSP",
        ]
    )


def test_module_rename_reaches_a_provider_feed(app, client, practice, clock, quiet):
    token = create_link(client, practice["provider"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    clock.advance(minutes=1)
    module = Module.get(Module.group == practice["group"], Module.position == 1)
    group_service.rename_module(module, "Worry time", "", by=practice["provider"])
    again = fetch(feed_client, token, **{"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200
    assert "Tuesday Calm Circle: Worry time" in {str(e["SUMMARY"]) for e in vevents(again.data)}
    since = fetch(feed_client, token, **{"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 200


def test_export_answers_conditional_requests(app, client, practice, make_user, build_spy):
    login(client, make_user("admin"))
    path = "/calendars/export?what=practice&start=2026-01-01&end=2026-12-31"
    first = client.get(path)
    assert first.status_code == 200 and len(build_spy) == 1
    again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and len(build_spy) == 1
    other_range = client.get(
        "/calendars/export?what=practice&start=2026-01-01&end=2026-06-30",
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert other_range.status_code == 200
    exported = AuditLog.select().where(AuditLog.action == "calendar_exported").count()
    assert exported == 2  # a 304 delivers nothing, so it is not an export


def test_a_change_gives_a_new_etag_and_the_new_sessions(app, client, practice, build_spy):
    token = create_link(client, practice["member"])
    feed_client = app.test_client()
    first = fetch(feed_client, token)
    assert fetch(feed_client, token).data == first.data
    group = make_group(practice["provider"], "Group Z")
    add_sessions(group, NOW - 3 * WEEK, 2)
    enroll(group, practice["member"])
    changed = fetch(feed_client, token)
    assert changed.headers["ETag"] != first.headers["ETag"]
    assert len(vevents(changed.data)) == len(vevents(first.data)) + 2
