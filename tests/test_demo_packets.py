"""Demo data gives this week's sessions of the demo provider and member a packet."""

from __future__ import annotations

import datetime
import re

from groups.clock import utcnow
from groups.demo import DEMO_MEMBER, DEMO_PROVIDER, load_demo
from groups.handouts import load_library
from groups.models import CoFacilitator, Enrollment, Group, Module, PacketItem, Session, User
from tests.world import login


def demo_group_ids() -> set[int]:
    provider = User.by_email(DEMO_PROVIDER)
    member = User.by_email(DEMO_MEMBER)
    led = {g.id for g in Group.select().where(Group.lead == provider)}
    co = {c.group_id for c in CoFacilitator.select().where(CoFacilitator.provider == provider)}
    joined = {
        e.group_id
        for e in Enrollment.select().where(
            Enrollment.member == member, Enrollment.status == "active"
        )
    }
    return led | co | joined


def packets() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for item in PacketItem.select().order_by(PacketItem.session, PacketItem.position):
        out.setdefault(item.session_id, []).append(item.handout_slug)
    return out


def this_week(group_ids) -> list[Session]:
    now = utcnow()
    return list(
        Session.select()
        .where(
            Session.group.in_(list(group_ids)),
            Session.status != "cancelled",
            Session.starts_at.between(
                now - datetime.timedelta(hours=12), now + datetime.timedelta(days=7)
            ),
        )
        .order_by(Session.starts_at)
    )


def test_small_demo_sessions_this_week_have_a_module_and_a_guidance_handout(app, client):
    with app.app_context():  # the demo queues mail, which reads the app's config
        summary = load_demo("small")
    assert "session packets" in summary
    lib = load_library()
    chosen = packets()
    week = this_week(demo_group_ids())
    assert week and {s.id for s in week} == set(chosen)
    for s in week:
        module = Module.get_by_id(s.module_id)
        slugs = chosen[s.id]
        assert len(slugs) == 2, slugs
        assert slugs[0] == module.key and lib[slugs[0]].kind == "module"
        guidance = lib[slugs[1]]
        assert guidance.kind == "guidance" and s.group.focus in guidance.focuses
        tagged = [h.slug for h in lib.for_module(module.key) if h.kind == "guidance"]
        assert guidance.slug in (tagged or ["what-to-expect-in-group"])

    # The member sees "Handouts (PDF)" at once, and the download works.
    login(client, User.by_email(DEMO_MEMBER))
    page = client.get("/schedule").text
    assert "Handouts (PDF)" in page
    url = re.search(r'href="(/handouts/my/sessions/\d+\.pdf)"', page).group(1)
    response = client.get(url)
    assert response.status_code == 200 and response.data.startswith(b"%PDF")

    # The provider's session page lists the picked handouts.
    login(client, User.by_email(DEMO_PROVIDER))
    mine = [s for s in week if s.group.lead.email == DEMO_PROVIDER]
    assert mine
    page = client.get(f"/sessions/{mine[0].id}").text
    assert lib[chosen[mine[0].id][0]].title in page


def test_demo_loads_without_packets_when_the_handout_files_are_broken(app, tmp_path, monkeypatch):
    content = tmp_path / "broken"
    content.mkdir()
    (content / "bad.md").write_text("---\nslug: bad\ntitle: [unclosed\n---\nBody\n")
    monkeypatch.setattr("groups.handouts.library.CONTENT_DIR", content)
    with app.app_context():  # the demo queues mail, which reads the app's config
        summary = load_demo("small")
    assert "0 session packets" in summary
    assert Group.select().exists() and not PacketItem.select().exists()


def test_large_demo_gives_packets_only_to_the_demo_accounts_sessions(app):
    load_demo("large")
    chosen = packets()
    ids = demo_group_ids()
    assert chosen and {s.id for s in this_week(ids)} == set(chosen)
    member_groups = {
        e.group_id
        for e in Enrollment.select().where(
            Enrollment.member == User.by_email(DEMO_MEMBER), Enrollment.status == "active"
        )
    }
    assert {s.id for s in this_week(member_groups)} <= set(chosen)
    assert all(len(slugs) == 2 for slugs in chosen.values())
