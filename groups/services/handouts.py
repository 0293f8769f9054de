"""Handouts in the running practice: the library page, session packets,
personalised print contexts and the PDFs the views and the CLI hand out.

The library and the renderer (``groups.handouts``) are pure; this module
adds what needs the database: who may get which handout, what is printed
on it, and the packet a provider picked for a session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Flask, current_app

from .. import audit
from ..access import visible_groups
from ..curricula import CURRICULA, FOCUS_LABELS, module_by_key
from ..db import is_sqlite, write_transaction
from ..handouts import Handout, HandoutError, Library, check_library, load_library
from ..handouts import render as renderer
from ..handouts.library import handout_html_body
from ..models import Enrollment, Group, Module, PacketItem, Session, User
from . import ServiceError

# What a provider may pick for one session: one sheet or two per handout.
MAX_PACKET_ITEMS = 10
# "One copy per member" lays the packet out once and stamps a name on each
# copy, so its cost grows with the pages it holds. Refusing past this many
# keeps the download well inside a worker's timeout (docs/performance.md).
MAX_COPY_PAGES = 600


class LibraryUnavailable(RuntimeError):
    """The content files are malformed; ``problems`` says where and how."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def library() -> Library:
    """The handout library, or ``LibraryUnavailable`` listing every problem."""
    try:
        return load_library()
    except HandoutError as error:
        raise LibraryUnavailable(error.problems) from None


def library_or_problems() -> tuple[Library | None, list[str]]:
    try:
        return library(), []
    except LibraryUnavailable as error:
        return None, error.problems


def all_module_keys() -> list[str]:
    return [m.key for modules in CURRICULA.values() for m in modules]


def startup_check(logger) -> list[str]:
    """Load the library once at start-up and log anything wrong with it.

    A malformed file does not stop the app: the library page shows the
    problems and ``flask check-handouts`` lists them with a non-zero exit.
    """
    lib, problems = library_or_problems()
    if lib is None:
        logger.error(
            "Handout content has %d problem(s); handouts are unavailable until fixed "
            "(run `flask --app app check-handouts`):\n  %s",
            len(problems),
            "\n  ".join(problems),
        )
        return problems
    # The files parse; what is left are tags and modules that do not match.
    coverage = _coverage(lib, tuple(all_module_keys()))
    if coverage:
        logger.warning("Handout content: %s", "; ".join(coverage))
    return coverage


_last_coverage: tuple[Library, tuple[str, ...], list[str]] | None = None


def _coverage(lib: Library, module_keys: tuple[str, ...]) -> list[str]:
    """``check_library`` of the loaded library, reused while it is the same object.

    The loader hands back the same ``Library`` until a content file changes,
    so a process that creates many apps (the test suite makes one per test)
    checks each version of the files once; every app still logs the result.
    """
    global _last_coverage
    last = _last_coverage
    if last is not None and last[0] is lib and last[1] == module_keys:
        return list(last[2])
    problems = check_library(lib.directory, module_keys=module_keys)
    _last_coverage = (lib, module_keys, problems)
    return list(problems)


def init_app(app: Flask) -> None:
    """Where rendered PDFs are kept, and the start-up content check."""
    # Set per app (tests give each app its own); config.py supplies the default.
    renderer.set_cache_dir(
        app.config.get("PDF_CACHE_DIR") or os.path.join(app.instance_path, "pdf-cache"),
        max_mb=app.config["PDF_CACHE_MAX_MB"],
    )
    startup_check(app.logger)


# ---- Browsing --------------------------------------------------------------


def module_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """(focus label, [(module key, "NN. title")]) for a grouped select."""
    return [
        (FOCUS_LABELS[focus], [(m.key, f"{i}. {m.title}") for i, m in enumerate(modules, 1)])
        for focus, modules in CURRICULA.items()
    ]


def module_label(key: str) -> str:
    module = module_by_key(key)
    if module is None:
        return key
    focus = key.split("-", 1)[0]
    return f"{FOCUS_LABELS.get(focus, focus)}: {module.title}"


def browse(lib: Library, focus: str = "", module: str = "", kind: str = "") -> dict:
    """The library page: guidance handouts, then module handouts by curriculum."""
    handouts = lib.all()
    if focus in FOCUS_LABELS:
        handouts = [h for h in handouts if focus in h.focuses]
    if module_by_key(module):
        handouts = [h for h in handouts if module in h.modules]
    if kind in ("guidance", "module"):
        handouts = [h for h in handouts if h.kind == kind]
    guidance = [h for h in handouts if h.kind == "guidance"]
    by_curriculum = []
    module_handouts = [h for h in handouts if h.kind == "module"]
    for focus_key, modules in CURRICULA.items():
        rows = []
        for position, m in enumerate(modules, 1):
            for h in module_handouts:
                if h.modules and h.modules[0] == m.key:
                    rows.append((position, m, h))
        if rows:
            by_curriculum.append((FOCUS_LABELS[focus_key], rows))
    placed = {h.slug for _, rows in by_curriculum for _, _, h in rows}
    return {
        "guidance": guidance,
        "by_curriculum": by_curriculum,
        "other_modules": [h for h in module_handouts if h.slug not in placed],
        "count": len(handouts),
    }


def library_page(focus: str = "", module: str = "", kind: str = "") -> dict:
    """The library page: the filtered handouts, or the problems that stop it loading."""
    lib, problems = library_or_problems()
    return {
        "problems": problems,
        "data": browse(lib, focus, module, kind) if lib is not None else None,
        "module_choices": module_choices(),
    }


def preview_page(handout: Handout, user: User) -> dict:
    """One handout's page: its text as HTML and the groups the user can print it for."""
    groups = visible_groups(user).where(Group.status.in_(("draft", "active")))
    return {
        "handout": handout,
        "body": handout_html_body(handout),
        "groups": list(groups.order_by(Group.name)),
    }


# ---- What is printed ---------------------------------------------------------


def session_day(session: Session) -> str:
    """The session's date in its group's zone, as printed on handouts."""
    local = session.group.local(session.starts_at)
    return f"{local:%A} {local.day} {local:%B %Y}"


def print_context(
    *,
    group: Group | None = None,
    session: Session | None = None,
    member: User | None = None,
    module_title: str | None = None,
) -> renderer.PrintContext:
    """What goes around the handouts. A session's copies name the group and
    its focus only when the provider chose it for the session: a group's name
    often says what it treats ("Tuesday anxiety group") as plainly as the focus."""
    if session is not None:
        group = session.group
    show_focus = session is not None and session.packet_shows_focus
    names_group = group is not None and (session is None or show_focus)
    if session is not None and module_title is None and session.module_id:
        module_title = session.module.title
    return renderer.PrintContext(
        practice_name=current_app.config["PRACTICE_NAME"],
        group_name=group.name if names_group else None,
        focus_label=FOCUS_LABELS.get(group.focus) if show_focus else None,
        # The group's own zone: every copy of a packet shows the same date,
        # so a member's download reuses the copy the provider printed.
        session_date=session_day(session) if session else None,
        module_title=module_title,
        member_name=member.name if member is not None else None,
        practice_phone=current_app.config["PRACTICE_PHONE"],
        crisis_text=current_app.config["CRISIS_TEXT"],
    )


def render(handouts: list[Handout], context: renderer.PrintContext, title=None) -> bytes:
    return renderer.render_handouts_pdf(handouts, context, title=title)


def packet_title(session: Session) -> str:
    return f"Session handouts – {session_day(session)}"


def packet_filename(session: Session, suffix: str = "") -> str:
    """Neutral: a member's downloads folder says nothing about their group."""
    return f"session-packet-{session.id}{suffix}.pdf"


# ---- Session packets ----------------------------------------------------------


def packet_slugs(session: Session) -> list[str]:
    return [
        slug
        for (slug,) in PacketItem.select(PacketItem.handout_slug)
        .where(PacketItem.session == session)
        .order_by(PacketItem.position, PacketItem.id)
        .tuples()
    ]


def packet_handouts(session: Session, lib: Library) -> tuple[list[Handout], list[str]]:
    """The packet's handouts in order, and slugs whose file has gone."""
    slugs = packet_slugs(session)
    return [lib[s] for s in slugs if s in lib], [s for s in slugs if s not in lib]


def session_module_key(session: Session) -> str:
    return session.module.key if session.module_id else ""


# A packet is a few pages to take home: the module's own handout plus one or
# two guidance handouts; more than that and the picker stops being a shortlist.
MAX_GUIDANCE_SUGGESTIONS = 2

# Where each curriculum module sits: key -> (focus, 1-based position).
MODULE_PLACES = {
    m.key: (focus, position)
    for focus, modules in CURRICULA.items()
    for position, m in enumerate(modules, 1)
}


def module_place(handout: Handout) -> tuple[str, int] | None:
    """(focus, position) of the curriculum module a module handout is for."""
    if handout.kind != "module" or not handout.modules:
        return None
    return MODULE_PLACES.get(handout.modules[0])


def suggest(lib: Library, module_key: str, focus: str) -> tuple[list[Handout], list[Handout]]:
    """(suggested, the rest) for a session of ``module_key`` in a group of
    ``focus``, decided by the handouts' front matter alone:

    1. Every module handout tagged with the module's key, the module's own
       handout (the one whose first tag is the key) first.
    2. At most ``MAX_GUIDANCE_SUGGESTIONS`` guidance handouts that *match*
       the module: the key is among their ``modules`` tags and the group's
       focus among their ``focuses``. When more match, the most specific win
       (tagged with the fewest modules), then the library's order (by title).

    Everything else, matching guidance beyond the two included, is "the
    rest": guidance by title, then module handouts curriculum by curriculum
    (the group's own first) in module order, then any module handout for a
    module outside the curricula. Without a module key (no curriculum
    module) nothing is suggested.
    """
    suggested: list[Handout] = []
    if module_key:
        tagged = lib.for_module(module_key)
        modules = [h for h in tagged if h.kind == "module"]
        modules.sort(key=lambda h: h.modules[0] != module_key)  # stable: library order otherwise
        matching = [h for h in tagged if h.kind == "guidance" and focus in h.focuses]
        matching.sort(key=lambda h: len(h.modules))
        suggested = modules + matching[:MAX_GUIDANCE_SUGGESTIONS]
    seen = {h.slug for h in suggested}
    focus_order = [focus, *(f for f in CURRICULA if f != focus)]

    def rest_order(h: Handout) -> tuple[int, int, int]:
        if h.kind == "guidance":
            return (0, 0, 0)
        place = module_place(h)
        return (1, focus_order.index(place[0]), place[1]) if place else (2, 0, 0)

    return suggested, sorted((h for h in lib if h.slug not in seen), key=rest_order)


def suggestions(session: Session, lib: Library) -> tuple[list[Handout], list[Handout]]:
    """``suggest`` for this session's module and its group's focus."""
    return suggest(lib, session_module_key(session), session.group.focus)


def more_sections(handouts: list[Handout]) -> list[tuple[str, list[Handout]]]:
    """``handouts`` (in ``suggest``'s order) in labelled runs: guidance, one
    run per curriculum, then module handouts outside the curricula."""
    sections: list[tuple[str, list[Handout]]] = []
    for h in handouts:
        place = module_place(h)
        if h.kind == "guidance":
            label = "Guidance"
        elif place:
            label = f"{FOCUS_LABELS[place[0]]} modules"
        else:
            label = "Other module handouts"
        if not sections or sections[-1][0] != label:
            sections.append((label, []))
        sections[-1][1].append(h)
    return sections


@dataclass
class PacketPanel:
    """Everything the packet form on a session page shows (3 queries at most).

    The picker lists ``suggested`` first, then ``also_picked`` (ticked
    handouts that are not suggestions, so a pick never hides in a closed
    disclosure), and puts ``more`` (everything else, in labelled sections)
    under *More handouts*. ``places`` names each module handout's module
    ("Anxiety module 3"), since two curricula can share a title.
    """

    problems: list[str]
    chosen: list[Handout]
    missing: list[str]
    suggested: list[Handout]
    also_picked: list[Handout]
    more: list[tuple[str, list[Handout]]]
    places: dict[str, str]
    checked: set[str]
    shows_focus: bool  # the focus box: as saved, or as just submitted
    member_count: int
    focus_label: str
    module_key: str

    @property
    def has_packet(self) -> bool:
        return bool(self.chosen)

    @property
    def more_count(self) -> int:
        return sum(len(handouts) for _, handouts in self.more)


def packet_panel(
    session: Session, submitted: list[str] | None = None, show_focus: bool | None = None
) -> PacketPanel:
    """The panel as saved, or (``submitted``, ``show_focus``) as a refused form sent it."""
    lib, problems = library_or_problems()
    slugs = packet_slugs(session)
    count = Enrollment.active_in(session.group).count()
    focus_label = FOCUS_LABELS.get(session.group.focus, session.group.focus)
    shows_focus = session.packet_shows_focus if show_focus is None else show_focus
    if lib is None:
        return PacketPanel(
            problems, [], slugs, [], [], [], {}, set(), shows_focus, count, focus_label, ""
        )
    suggested, rest = suggestions(session, lib)
    chosen = [lib[s] for s in slugs if s in lib]
    if submitted is not None:
        checked = set(submitted)
    elif slugs:
        checked = set(slugs)
    else:
        # Nothing picked yet: tick the module's own handout, so "save" then
        # "one copy per member" is all it takes.
        checked = {h.slug for h in suggested if h.kind == "module"}
    places = {
        h.slug: f"{FOCUS_LABELS[place[0]]} module {place[1]}"
        for h in lib
        if (place := module_place(h))
    }
    return PacketPanel(
        problems=[],
        chosen=chosen,
        missing=[s for s in slugs if s not in lib],
        suggested=suggested,
        also_picked=[h for h in rest if h.slug in checked],
        more=more_sections([h for h in rest if h.slug not in checked]),
        places=places,
        checked=checked,
        shows_focus=shows_focus,
        member_count=count,
        focus_label=focus_label,
        module_key=session_module_key(session),
    )


def save_packet(session: Session, slugs: list[str], show_focus: bool, *, by: User) -> bool:
    """Replace the session's packet; return whether anything changed."""
    lib = library()
    slugs = list(dict.fromkeys(s for s in slugs if s))
    if len(slugs) > MAX_PACKET_ITEMS:
        raise ServiceError(
            f"A packet holds at most {MAX_PACKET_ITEMS} handouts; untick some.", "handouts"
        )
    unknown = [s for s in slugs if s not in lib]
    if unknown:
        raise ServiceError(
            "These handouts are not in the library (was a file removed?): " + ", ".join(unknown),
            "handouts",
        )
    # Keep the order the provider sees: the suggestions, then the rest.
    suggested, rest = suggestions(session, lib)
    order = {h.slug: i for i, h in enumerate(suggested + rest)}
    slugs.sort(key=lambda s: order.get(s, len(order)))
    with write_transaction():
        # Two saves at once (a double click) run one after the other: SQLite
        # by BEGIN IMMEDIATE, PostgreSQL by locking the session row first.
        current = Session.select(Session.packet_shows_focus).where(Session.id == session.id)
        focus_before = (current if is_sqlite() else current.for_update()).scalar()
        before = packet_slugs(session)
        if before == slugs and bool(focus_before) == show_focus:
            return False
        PacketItem.delete().where(PacketItem.session == session).execute()
        if slugs:
            PacketItem.insert_many(
                [
                    {"session": session.id, "handout_slug": slug, "position": i}
                    for i, slug in enumerate(slugs)
                ]
            ).execute()
        Session.update(packet_shows_focus=show_focus).where(Session.id == session.id).execute()
        session.packet_shows_focus = show_focus
        audit.record(
            "packet_changed",
            actor=by,
            target=session,
            handouts=slugs,
            shows_focus=show_focus,
        )
    return True


def has_packet(session: Session) -> bool:
    """Has a provider picked handouts for this session (1 query)?"""
    return PacketItem.select().where(PacketItem.session == session).exists()


def render_packet(session: Session, member: User | None = None) -> tuple[bytes, list[Handout]]:
    """The packet PDF (the provider's copy, or ``member``'s personalised
    copy) and its handouts; ``ServiceError`` when the packet is empty.

    Every copy of a session's packet is the same shared layout with its
    reader's name stamped on, so a member's download reuses the packet the
    provider already printed."""
    handouts, _ = packet_handouts(session, library())
    if not handouts:
        raise ServiceError("No handouts have been picked for this session yet.")
    readers = [member.name if member is not None else None]
    pdf = renderer.render_copies(
        handouts, print_context(session=session), readers, title=packet_title(session)
    )
    return pdf, handouts


def render_member_copies(session: Session) -> tuple[bytes, list[Handout], int]:
    """One PDF holding a personalised copy of the packet for each active
    member; ``ServiceError`` when there is nothing to print or the copies
    would hold more than ``MAX_COPY_PAGES`` pages."""
    handouts, _ = packet_handouts(session, library())
    if not handouts:
        raise ServiceError("No handouts have been picked for this session yet.")
    names = [name for (name,) in Enrollment.active_in(session.group).select(User.name).tuples()]
    if not names:
        raise ServiceError("This group has no active members to print copies for.")
    title = packet_title(session)
    try:
        pdf = renderer.render_copies(
            handouts,
            print_context(session=session),
            names,
            title=title,
            copies_title=f"{title} – member copies",
            max_pages=MAX_COPY_PAGES,
        )
    except renderer.TooManyPages as error:
        raise ServiceError(too_many_pages_message(error)) from None
    return pdf, handouts, len(names)


def too_many_pages_message(error: renderer.TooManyPages) -> str:
    pages = error.pages_per_copy
    return (
        f"{error.copies} copies of this {pages}-page packet would be "
        f"{error.copies * pages} pages, more than the {error.limit} one download can hold. "
        f"Download the provider copy and print {error.copies} of it, or pick fewer "
        "handouts; each member can also download their own copy from their schedule."
    )


# ---- Member catch-up handouts --------------------------------------------------


def member_module(member: User, module_id: int) -> Module | None:
    """A module (with its group) of a group the member is or was active in,
    else None."""
    return (
        Module.select(Module, Group)
        .join(Group, on=(Module.group == Group.id))
        .join(Enrollment, on=(Enrollment.group == Group.id))
        .where(
            Module.id == module_id,
            Enrollment.member == member,
            Enrollment.joined_at.is_null(False),
            Enrollment.status.in_(("active", "withdrawn")),
        )
        .first()
    )


def module_handouts(lib: Library, module: Module) -> list[Handout]:
    """A module's handouts, its own first: a member's catch-up link names
    one by the module's row id and its 1-based number here, never by slug
    (a slug such as ``anxiety-03-...`` in a URL would reveal the diagnosis in
    access logs and browser history)."""
    handouts = lib.for_module(module.key) if module.key else []
    handouts.sort(key=lambda h: h.kind != "module")  # the module's own handout is number 1
    return handouts


def handouts_by_module(modules: list[Module]) -> dict[int, list[Handout]]:
    """Each module's handouts, numbered as above; none while the library has a
    problem (the library page and the session page say what it is)."""
    lib, _problems = library_or_problems()
    return {m.id: module_handouts(lib, m) if lib is not None else [] for m in modules}


def member_handout(member: User, module_id: int, number: int) -> tuple[Handout, Module] | None:
    """Handout ``number`` of a module of the member's group, else None."""
    module = member_module(member, module_id)
    if module is None:
        return None
    handouts = module_handouts(library(), module)
    if not 1 <= number <= len(handouts):
        return None
    return handouts[number - 1], module


def member_handout_filename(module: Module, number: int) -> str:
    return f"handout-{module.id}-{number}.pdf"


def record_download(
    handouts: list[Handout], *, copy: str, session: Session | None = None, **detail
) -> None:
    """Audit one download: slugs and ids only, never a member's name."""
    slugs = [h.slug for h in handouts]
    if session is not None:
        audit.record("handout_downloaded", target=session, handouts=slugs, copy=copy, **detail)
    else:
        audit.record(
            "handout_downloaded", target_type="handout", handouts=slugs, copy=copy, **detail
        )


# ---- Command line ---------------------------------------------------------------


def render_for_cli(
    slug: str,
    *,
    group_id: int | None = None,
    session_id: int | None = None,
    member_email: str | None = None,
) -> tuple[bytes, Handout]:
    """``flask render-handout``: look everything up, refuse unknowns clearly."""
    handout = library().get(slug)
    if handout is None:
        raise ServiceError(
            f"No handout with the slug '{slug}'. `flask --app app list-handouts` lists them."
        )
    group = session = member = None
    if session_id is not None:
        session = Session.select(Session, Group).join(Group).where(Session.id == session_id).first()
        if session is None:
            raise ServiceError(f"No session with id {session_id}.")
    if group_id is not None:
        group = Group.get_or_none(Group.id == group_id)
        if group is None:
            raise ServiceError(f"No group with id {group_id}.")
        if session is not None and session.group_id != group.id:
            raise ServiceError(
                f"Session {session_id} belongs to group {session.group_id}, not group {group_id}."
            )
    if member_email:
        member = User.by_email(member_email)
        if member is None or not member.is_member:
            raise ServiceError(f"No member with the email {member_email}.")
        target = session.group if session is not None else group
        if (
            target is not None
            and not Enrollment.select()
            .where(Enrollment.group == target, Enrollment.member == member)
            .exists()
        ):
            raise ServiceError(f"{member_email} is not enrolled in group {target.id}.")
    pdf = render([handout], print_context(group=group, session=session, member=member))
    audit.record(
        "handout_downloaded",
        target=session,
        target_type="" if session is not None else "handout",
        handouts=[handout.slug],
        copy="member" if member is not None else "staff",
        group_id=(session.group_id if session is not None else group.id if group else None),
        via="cli",
    )
    return pdf, handout
