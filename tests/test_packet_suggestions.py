"""The packet picker's shortlist: the module's handouts, then at most two
guidance handouts that match the module, the rest under *More handouts*.

The rule itself is tested on the pure ``suggest`` (with the shipped library
and with a made-up one); the page is read with an HTML parser, so the tests
say which section of the form a checkbox sits in, not just that it exists.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import tinyhtml5

from groups.curricula import CURRICULA
from groups.handouts import Handout, Library, load_library
from groups.models import Module, PacketItem
from groups.services.handouts import MAX_GUIDANCE_SUGGESTIONS, suggest
from tests.checks import count_queries
from tests.world import add_session, enroll_all, login, new_group

STARTS = datetime.datetime(2031, 5, 13, 22, 0, tzinfo=datetime.UTC)


def handout(slug, kind="guidance", focuses=("anxiety", "depression", "adhd"), modules=()):
    return Handout(
        slug=slug,
        title=slug.replace("-", " ").capitalize(),
        summary="A summary.",
        kind=kind,
        focuses=tuple(focuses),
        modules=tuple(modules),
        body_markdown="Body.\n",
        source_path=Path(f"{slug}.md"),
        content_hash=slug,
    )


def slugs(handouts) -> list[str]:
    return [h.slug for h in handouts]


# ---- The rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("focus", "key"), [(focus, m.key) for focus, modules in CURRICULA.items() for m in modules]
)
def test_every_module_gets_its_own_handout_first_and_at_most_two_guidance(focus, key):
    lib = load_library()
    suggested, rest = suggest(lib, key, focus)
    assert suggested[0].slug == key and suggested[0].kind == "module"
    kinds = [h.kind for h in suggested]
    assert kinds == sorted(kinds, key=lambda kind: kind != "module")  # modules, then guidance
    guidance = [h for h in suggested if h.kind == "guidance"]
    assert len(guidance) <= MAX_GUIDANCE_SUGGESTIONS == 2
    assert all(key in h.modules and focus in h.focuses for h in guidance)
    # Every handout is offered exactly once: suggested or under More handouts.
    assert sorted(slugs(suggested + rest)) == sorted(slugs(lib))


def test_shipped_guidance_tags_fit_the_modules_they_are_meant_for():
    lib = load_library()

    def guidance_for(key):
        focus = key.split("-", 1)[0]
        return {h.slug for h in suggest(lib, key, focus)[0] if h.kind == "guidance"}

    assert guidance_for("anxiety-01-understanding-anxiety") == {"what-to-expect-in-group"}
    assert guidance_for("depression-03-values") == {"redefining-success"}
    assert "raising-therapy" in guidance_for("depression-09-communicating-needs")
    # A skills module with no relationship theme gets no couples handout.
    assert guidance_for("adhd-03-prioritising") == set()
    assert guidance_for("anxiety-03-calming-the-body") == set()


def test_when_more_than_two_match_the_most_specific_win():
    lib = Library(
        [
            handout("broad", modules=["anxiety-09-x", "depression-08-x", "adhd-09-x"]),
            handout("narrow", modules=["anxiety-09-x"]),
            handout("middle", modules=["anxiety-09-x", "adhd-09-x"]),
            handout("also-middle", modules=["anxiety-09-x", "depression-08-x"]),
            handout("other-focus", focuses=["adhd"], modules=["anxiety-09-x"]),
            handout("untagged"),
            handout("anxiety-09-x", kind="module", focuses=["anxiety"], modules=["anxiety-09-x"]),
            handout(
                "anxiety-08-y",
                kind="module",
                focuses=["anxiety"],
                modules=["anxiety-08-y", "anxiety-09-x"],
            ),
        ]
    )
    suggested, rest = suggest(lib, "anxiety-09-x", "anxiety")
    # The module's own handout, another module's handout tagged to it, then
    # the most specific guidance; a tie goes to the library's order (title).
    assert slugs(suggested) == ["anxiety-09-x", "anxiety-08-y", "narrow", "also-middle"]
    assert slugs(rest) == ["broad", "middle", "other-focus", "untagged"]


def test_a_session_without_a_module_gets_no_suggestions():
    lib = load_library()
    suggested, rest = suggest(lib, "", "anxiety")
    assert suggested == [] and sorted(slugs(rest)) == sorted(slugs(lib))


def test_the_rest_is_guidance_then_each_curriculum_in_order_the_groups_own_first():
    lib = load_library()
    suggested, rest = suggest(lib, "depression-03-values", "depression")
    guidance = [h.slug for h in lib if h.kind == "guidance" and h.slug != "redefining-success"]
    curricula = [
        m.key
        for focus in ("depression", "anxiety", "adhd")
        for m in CURRICULA[focus]
        if m.key != "depression-03-values"
    ]
    assert slugs(rest) == guidance + curricula


# ---- The picker on the page -------------------------------------------------------


@pytest.fixture
def picker(client, make_user):
    """A provider logged in, an anxiety group and ``session(position)``."""
    provider = make_user("provider", name="Dr. Pia Picker")
    group = new_group(provider)
    login(client, provider)

    def session(position=9, days=1):
        module = Module.get(Module.group == group, Module.position == position)
        return add_session(group, STARTS + datetime.timedelta(days=days), module=module)

    session.group = group
    return session


class Picker:
    """The packet form as sections: [(legend, [(slug, checked)])], and the disclosure."""

    def __init__(self, html: str):
        self.text = html
        root = tinyhtml5.parse(html, namespace_html_elements=False)
        self.form = next(f for f in root.iter("form") if f.get("class") == "packet-form")
        self.details = self.form.find("details")

    @staticmethod
    def boxes(element) -> list[tuple[str, bool]]:
        return [
            (box.get("value"), box.get("checked") is not None)
            for box in element.iter("input")
            if box.get("name") == "handouts"
        ]

    def section(self, legend: str) -> list[tuple[str, bool]]:
        for fieldset in self.form.findall("fieldset"):  # not those inside <details>
            if "".join(fieldset.find("legend").itertext()).strip() == legend:
                return self.boxes(fieldset)
        return []

    @property
    def more(self) -> list[tuple[str, bool]]:
        return self.boxes(self.details) if self.details is not None else []

    @property
    def more_sections(self) -> list[str]:
        return ["".join(legend.itertext()).strip() for legend in self.details.iter("legend")]

    @property
    def more_open(self) -> bool:
        return self.details.get("open") is not None

    @property
    def summary(self) -> str:
        return "".join(self.details.find("summary").itertext()).strip()


def get_picker(client, session) -> Picker:
    response = client.get(f"/handouts/sessions/{session.id}/packet")
    assert response.status_code == 200
    return Picker(response.text)


def test_picker_lists_the_module_first_then_two_guidance_and_hides_the_rest(client, picker):
    session = picker(position=9)  # relationships: several couples handouts exist
    page = get_picker(client, session)
    suggested = page.section("Suggested for this session")
    lib = load_library()
    assert suggested[0] == ("anxiety-09-relationships-and-support", True)  # ticked by default
    guidance = [slug for slug, _ in suggested if lib[slug].kind == "guidance"]
    assert 1 <= len(guidance) <= 2
    assert not any(checked for _, checked in suggested[1:])
    # The other six couples handouts and the other modules wait, closed, under More handouts.
    assert page.details is not None and not page.more_open
    assert page.summary == f"More handouts ({len(lib) - len(suggested)})"
    assert {slug for slug, _ in page.more} == set(slugs(lib)) - {s for s, _ in suggested}
    assert page.more_sections == [
        "Guidance",
        "Anxiety modules",
        "Depression modules",
        "ADHD modules",
    ]
    assert page.section("Also picked") == []
    assert sum(lib[s].kind == "guidance" for s, _ in suggested + page.more) == 8


def test_picked_handouts_stay_visible_and_checked_wherever_they_belong(client, picker):
    session = picker(position=3)
    # A guidance handout that is no suggestion for module 3, and the module's own.
    for position, slug in enumerate(["anxiety-03-calming-the-body", "ripple-effect"]):
        PacketItem.create(session=session, handout_slug=slug, position=position)
    page = get_picker(client, session)
    assert page.section("Suggested for this session") == [("anxiety-03-calming-the-body", True)]
    assert page.section("Also picked") == [("ripple-effect", True)]
    assert "ripple-effect" not in dict(page.more)
    assert not any(checked for _, checked in page.more)


def test_a_refused_form_keeps_ticks_from_more_handouts_visible(client, picker):
    session = picker(position=3)
    response = client.post(
        f"/handouts/sessions/{session.id}/packet",
        data={"handouts": ["redefining-success", "no-such-handout"]},
    )
    assert response.status_code == 422
    page = Picker(response.text)
    assert page.section("Suggested for this session") == [("anxiety-03-calming-the-body", False)]
    assert page.section("Also picked") == [("redefining-success", True)]
    assert not PacketItem.select().exists()


def test_saving_from_more_handouts_keeps_the_picker_order(client, picker):
    session = picker(position=9)
    client.post(
        f"/handouts/sessions/{session.id}/packet",
        data={"handouts": ["adhd-03-prioritising", "anxiety-09-relationships-and-support"]},
    )
    saved = PacketItem.select().where(PacketItem.session == session).order_by(PacketItem.position)
    assert [i.handout_slug for i in saved] == [
        "anxiety-09-relationships-and-support",
        "adhd-03-prioritising",
    ]
    page = get_picker(client, session)
    assert page.section("Also picked") == [("adhd-03-prioritising", True)]


def test_a_session_without_a_module_opens_more_handouts(client, picker):
    session = add_session(picker.group, STARTS + datetime.timedelta(days=30))
    page = get_picker(client, session)
    assert page.section("Suggested for this session") == []
    assert page.more_open and len(page.more) == len(load_library())
    assert "this session has no curriculum module" in page.text


def test_packet_page_query_count_stays_constant(client, picker, make_user):
    small = picker(position=3)
    PacketItem.create(session=small, handout_slug="anxiety-03-calming-the-body", position=0)
    url = f"/handouts/sessions/{small.id}/packet"
    with count_queries() as few:
        assert client.get(url).status_code == 200
    # A bigger packet with picks from More handouts, more members, another module.
    large = picker(position=9, days=8)
    extra = ["anxiety-09-relationships-and-support", "ripple-effect", "adhd-03-prioritising"]
    for position, slug in enumerate(extra + ["depression-03-values", "raising-therapy"]):
        PacketItem.create(session=large, handout_slug=slug, position=position)
    enroll_all(picker.group, [make_user("member") for _ in range(5)])
    with count_queries() as many:
        assert client.get(f"/handouts/sessions/{large.id}/packet").status_code == 200
    assert many.n == few.n
    with count_queries() as again:
        assert client.get(f"/sessions/{large.id}").status_code == 200
    with count_queries() as before:
        assert client.get(f"/sessions/{small.id}").status_code == 200
    assert again.n == before.n
