"""Registries filled by `register()` and by entry points (after Gymnasium's registry).

Each registry has an entry-point group. A package adds entries by declaring, in its
pyproject.toml::

    [project.entry-points."cellwright.robots"]
    acme = "acme_cells.robots:MODELS"     # an entry, or a list or tuple of entries

Entry points are loaded on the first lookup that misses and on `ids()`, never at import,
so listing or configuring does not import simulators or drivers. An entry point that fails
to load is reported with its name and the error, and does not hide the others.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class RegistryError(KeyError):
    """An unknown or clashing id; the message lists what is known."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """Entries by id.

    Args:
        group: the entry-point group (`cellwright.robots`).
        what: what an entry is, for messages ("robot model").
        key: the id of an entry.
        check: raises TypeError if an object is not an entry of this registry.
    """

    def __init__(self, group: str, what: str, key: Callable[[T], str],
                 check: Callable[[object], None]) -> None:
        self.group, self.what = group, what
        self._key, self._check = key, check
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._loaded = False
        self._loading = threading.RLock()  # a first lookup from two threads loads once
        self.load_errors: dict[str, str] = {}
        """Entry points that failed to load: name -> error."""

    def register(self, entry: T, *, origin: str = "register()", replace: bool = False) -> T:
        """Add `entry` under its id and return it.

        Raises:
            TypeError: not an entry of this registry.
            RegistryError: the id is taken (pass `replace=True` to override on purpose).
        """
        self._check(entry)
        entry_id = self._key(entry)
        if entry_id in self._entries and not replace and self._entries[entry_id] is not entry:
            raise RegistryError(f"{self.what} {entry_id!r} is already registered by "
                                f"{self._origins[entry_id]}; pick another id or pass replace=True")
        self._entries[entry_id] = entry
        self._origins[entry_id] = origin
        return entry

    def unregister(self, entry_id: str) -> None:
        """Remove an entry (tests, plugin reloads)."""
        self._entries.pop(entry_id, None)
        self._origins.pop(entry_id, None)

    def get(self, entry_id: str) -> T:
        """The entry registered as `entry_id`.

        Raises:
            RegistryError: unknown id; the message lists the known ids and a close match.
        """
        if entry_id not in self._entries:
            self.load_entry_points()
        try:
            return self._entries[entry_id]
        except KeyError:
            known = sorted(self._entries)
            close = difflib.get_close_matches(entry_id, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            failed = (f" (entry points that failed to load: {self.load_errors})"
                      if self.load_errors else "")
            raise RegistryError(f"unknown {self.what} {entry_id!r}{hint} known: {known}"
                                f"{failed}") from None

    def ids(self) -> list[str]:
        """Every registered id, entry points included."""
        self.load_entry_points()
        return sorted(self._entries)

    def origin(self, entry_id: str) -> str:
        """Where an entry came from: `register()` or `entry point <name> (<value>)`."""
        self.get(entry_id)
        return self._origins[entry_id]

    def load_entry_points(self) -> None:
        """Load the group's entry points once (later calls do nothing; a call while another
        thread loads waits for it)."""
        with self._loading:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _load(self) -> None:
        for point in entry_points(group=self.group):
            origin = f"entry point {point.name} ({point.value})"
            problems = []
            try:
                loaded = point.load()
            except Exception as exc:  # a broken plugin must not hide the others
                problems.append(f"{type(exc).__name__}: {exc}")
                loaded = []
            items: Iterable[T] = loaded if isinstance(loaded, list | tuple) else [loaded]
            for item in items:
                try:
                    self.register(item, origin=origin)
                except (TypeError, RegistryError) as exc:  # one bad entry, not the whole plugin
                    problems.append(f"{type(exc).__name__}: {exc}")
            if problems:
                self.load_errors[point.name] = "; ".join(problems)
                log.error("%s %s: %s", self.group, origin, self.load_errors[point.name])
