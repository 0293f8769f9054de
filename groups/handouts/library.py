"""The handout library: Markdown files with YAML front matter under content/.

Each ``*.md`` file below the content directory (any depth) is one handout::

    ---
    slug: choosing-the-moment        # equals the file name without .md
    title: Choosing the moment
    summary: One sentence shown in lists.
    kind: guidance                   # guidance | module
    focuses: [anxiety, depression]   # non-empty subset of FOCUSES
    modules: [anxiety-03-worry-time] # curriculum module keys, may be empty
    ---
    Markdown body ...

Loading is pure (no database, no request) and cached per directory until a
file changes, so a request costs a few ``stat`` calls, not a re-parse.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from markupsafe import Markup

from ..contentfiles import Catalog, DirectoryCache, parse_each
from ..models import FOCUSES
from .directives import directive_problems
from .markup import markdown_to_html
from .spelling import spelling_problems

CONTENT_DIR = Path(__file__).resolve().parent / "content"
KINDS = ("guidance", "module")
REQUIRED_KEYS = ("slug", "title", "summary", "kind", "focuses", "modules")
SLUG_RE = re.compile(r"^[a-z0-9-]+$")
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)


class HandoutError(ValueError):
    """A content file is malformed; the message names the file and the problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Handout:
    slug: str
    title: str
    summary: str
    kind: str
    focuses: tuple[str, ...]
    modules: tuple[str, ...]
    body_markdown: str
    source_path: Path
    content_hash: str  # sha256 of the file's bytes

    @property
    def is_worksheet(self) -> bool:
        return any(mark in self.body_markdown for mark in (":::lines", ":::table", "- [ ]"))


class Library(Catalog[Handout]):
    """An immutable set of handouts with lookups by slug, focus and module."""

    def __init__(self, handouts: Iterable[Handout], directory: Path | None = None):
        kind_order = {kind: index for index, kind in enumerate(KINDS)}
        order = sorted(handouts, key=lambda h: (kind_order[h.kind], h.title.casefold(), h.slug))
        super().__init__(order, lambda h: h.slug, directory)

    def all(self) -> list[Handout]:
        """Guidance handouts first, then module handouts, each by title."""
        return list(self._all)

    def for_focus(self, focus: str) -> list[Handout]:
        return [h for h in self._all if focus in h.focuses]

    def for_module(self, key: str) -> list[Handout]:
        return [h for h in self._all if key in h.modules]


def _string_list(value, key: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"'{key}' must be a list of non-empty strings")
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value))


def _parse(path: Path, data: bytes) -> tuple[Handout | None, list[str]]:
    """Parse one file; return the handout (None if broken) and its problems."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [f"not valid UTF-8 ({exc.reason} at byte {exc.start})"]
    match = FRONT_MATTER_RE.match(text)
    if not match:
        return None, [
            "missing YAML front matter (the file must start with a '---' line "
            "and the front matter end with another '---' line)"
        ]
    try:
        meta = yaml.safe_load(match[1] or "")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at front matter line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [f"invalid YAML{where}: {problem}"]
    if not isinstance(meta, dict):
        return None, ["front matter must be a mapping of 'key: value' lines"]

    problems = [f"missing required key '{key}'" for key in REQUIRED_KEYS if key not in meta]
    slug, title, summary, kind = (meta.get(k) for k in ("slug", "title", "summary", "kind"))
    if "slug" in meta:
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            problems.append(f"slug {slug!r} must use only a-z, 0-9 and '-'")
        elif slug != path.stem:
            problems.append(f"slug '{slug}' does not match the file name '{path.name}'")
    for key, value in (("title", title), ("summary", summary)):
        if key in meta and (not isinstance(value, str) or not value.strip()):
            problems.append(f"'{key}' must be non-empty text")
    if "kind" in meta and kind not in KINDS:
        problems.append(f"kind {kind!r} must be one of: {', '.join(KINDS)}")
    focuses: tuple[str, ...] = ()
    if "focuses" in meta:
        focuses = _string_list(meta["focuses"], "focuses", problems)
        unknown = [f for f in focuses if f not in FOCUSES]
        if unknown:
            problems.append(
                f"unknown focus {', '.join(map(repr, unknown))} (allowed: {', '.join(FOCUSES)})"
            )
        elif not focuses and isinstance(meta["focuses"], list):
            problems.append("'focuses' must name at least one focus")
    modules = _string_list(meta["modules"], "modules", problems) if "modules" in meta else ()
    rest = text[match.end() :]
    body = rest.strip("\n")
    if not body.strip():
        problems.append("the Markdown body is empty")
    # File line numbers: the front matter's lines plus the blank lines stripped.
    first_line = text[: match.end()].count("\n") + len(rest) - len(rest.lstrip("\n")) + 1
    problems.extend(directive_problems(body, first_line))
    if problems:
        return None, problems
    handout = Handout(
        slug=slug,
        title=title.strip(),
        summary=" ".join(summary.split()),
        kind=kind,
        focuses=focuses,
        modules=modules,
        body_markdown=body + "\n",
        source_path=path,
        content_hash=hashlib.sha256(data).hexdigest(),
    )
    return handout, []


def _scan(directory: Path) -> tuple[list[Handout], list[str]]:
    handouts, problems, seen = [], [], {}
    if not directory.is_dir():
        return [], [f"{directory}: handout content directory not found"]
    paths = sorted(directory.rglob("*.md"))

    def relative(path: Path) -> str:
        return path.relative_to(directory).as_posix()

    for name, handout in parse_each(paths, relative, _parse, problems):
        if handout.slug in seen:
            problems.append(
                f"{name}: duplicate slug '{handout.slug}' (also used by {seen[handout.slug]})"
            )
            continue
        seen[handout.slug] = name
        handouts.append(handout)
    return handouts, problems


def check_library(
    directory: Path | str | None = None, *, module_keys: Iterable[str] | None = None
) -> list[str]:
    """Every problem in the content directory, one message per problem.

    Beyond what ``load_library`` refuses, it reports UK spellings (see
    ``spelling``). With ``module_keys`` (all curriculum module keys) it also reports handouts
    tagged with an unknown module and modules that have no handout.
    """
    directory = Path(directory) if directory is not None else CONTENT_DIR
    handouts, problems = _scan(directory)
    # Spelling is checked here and not on load: a slip must fail the check,
    # not take the handouts offline. Broken files are checked too, so one run
    # lists everything to fix.
    for path in sorted(directory.rglob("*.md")) if directory.is_dir() else ():
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue  # already reported by _scan
        name = path.relative_to(directory).as_posix()
        problems.extend(f"{name}: {problem}" for problem in spelling_problems(text))
    if module_keys is not None:
        keys = list(dict.fromkeys(module_keys))
        for handout in handouts:
            name = handout.source_path.relative_to(directory).as_posix()
            problems.extend(
                f"{name}: unknown module '{key}'" for key in handout.modules if key not in keys
            )
        tagged = {key for handout in handouts for key in handout.modules}
        problems.extend(f"module '{key}' has no handout" for key in keys if key not in tagged)
    return problems


_libraries = DirectoryCache("**/*.md", _scan, Library, HandoutError)


def load_library(directory: Path | str | None = None) -> Library:
    """Load (or reuse) the library; raise ``HandoutError`` listing every problem."""
    # CONTENT_DIR is read at call time: tests point it at a folder of their own.
    return _libraries.get(directory if directory is not None else CONTENT_DIR)


def handout_html_body(handout: Handout) -> Markup:
    """The handout's body as safe HTML (raw HTML in the content is escaped)."""
    return Markup(markdown_to_html(handout.body_markdown, handout.title))
