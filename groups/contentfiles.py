"""Content files read at run time (handouts, measures): a keyed set of what
was parsed, and a cache that reuses it until a file there changes.

Handouts (Markdown) and measures (YAML) are read from the repository at run
time. Parsing them on every request is wasteful, and caching them for the
process's life would hide an edited file until a restart, so each folder's
result is kept with a signature of its files (path, mtime, size) and parsed
again when the signature changes.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")
C = TypeVar("C")


class Catalog(Generic[T]):
    """An immutable, ordered set of parsed files, looked up by their key."""

    def __init__(self, entries: Iterable[T], key: Callable[[T], str], directory: Path | None):
        self._all = tuple(entries)
        self._by_key = {key(entry): entry for entry in self._all}
        self.directory = directory

    def get(self, key: str) -> T | None:
        return self._by_key.get(key)

    def __getitem__(self, key: str) -> T:
        return self._by_key[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[T]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)


def parse_each(
    paths: Iterable[Path],
    name: Callable[[Path], str],
    parse: Callable[[Path, bytes], tuple[T | None, list[str]]],
    problems: list[str],
) -> Iterator[tuple[str, T]]:
    """Read and parse each file, yielding (its name, what it parsed to).

    A file's problems (and one that cannot be read) go to ``problems``, each
    prefixed with the file's name, so one pass lists everything to fix.
    """
    for path in paths:
        label = name(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{label}: cannot be read ({exc.strerror})")
            continue
        parsed, file_problems = parse(path, data)
        problems.extend(f"{label}: {problem}" for problem in file_problems)
        if parsed is not None:
            yield label, parsed


class DirectoryCache(Generic[C]):
    """One catalog per folder, parsed again only when a matching file changes."""

    def __init__(
        self,
        pattern: str,
        scan: Callable[[Path], tuple[list, list[str]]],
        catalog: Callable[[list, Path], C],
        error: Callable[[list[str]], Exception],
    ):
        self.pattern = pattern  # a Path.glob pattern: "**/*.md" reaches subfolders
        self._recursive = pattern.startswith("**/")
        self._names = pattern.removeprefix("**/")  # what a file's name must match
        self.scan = scan  # (entries, problems) of a folder
        self.catalog = catalog
        self.error = error  # raised with every problem when there is any
        self._entries: dict[Path, tuple[tuple, C]] = {}
        # Each folder as given -> as resolved (the same few folders are read on every page).
        self._resolved: dict[Path | str, Path] = {}
        self._lock = threading.Lock()

    def signature(self, directory: Path) -> tuple:
        """What changes when any matching file is added, removed or edited.

        Worked out on every read (each page that shows a measure or a handout),
        so by ``os.scandir``: a fifth of the cost of ``Path.glob`` and a stat each.
        """
        if not directory.is_dir():
            return ()
        return tuple(sorted(_stats(str(directory), self._names, self._recursive)))

    def get(self, directory: Path | str) -> C:
        if directory not in self._resolved:
            self._resolved[directory] = Path(directory).resolve()
        directory = self._resolved[directory]
        signature = self.signature(directory)
        cached = self._entries.get(directory)
        if cached is not None and cached[0] == signature:
            return cached[1]
        entries, problems = self.scan(directory)
        if problems:
            raise self.error(problems)
        value = self.catalog(entries, directory)
        with self._lock:
            self._entries[directory] = (signature, value)
        return value


def _stats(directory: str, names: str, recursive: bool) -> Iterator[tuple[str, int, int]]:
    """(path, mtime, size) of every file in ``directory`` whose name matches ``names``
    (and in every folder below it when ``recursive``), in no particular order."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.is_dir():
                if recursive:
                    yield from _stats(entry.path, names, recursive)
            elif fnmatch.fnmatch(entry.name, names):
                stat = entry.stat()
                yield entry.path, stat.st_mtime_ns, stat.st_size
