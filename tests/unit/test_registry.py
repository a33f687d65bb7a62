"""The generic registry: register(), entry points loaded lazily, broken plugins reported
without hiding the others, clashes refused, "did you mean" for unknown ids."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from cellwright.api.registry import Registry, RegistryError
from cellwright.app.registries import run_list


@dataclass(frozen=True)
class Entry:
    id: str


def check(entry: object) -> None:
    if not isinstance(entry, Entry):
        raise TypeError(f"not an Entry: {type(entry).__name__}")


def make(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *modules: tuple[str, str]) -> Registry[Entry]:
    """A registry whose entry-point group holds one point per (name, module source)."""
    points = []
    for name, source in modules:
        (tmp_path / f"{name}_plugin.py").write_text(source)
        points.append(importlib.metadata.EntryPoint(name, f"{name}_plugin:ENTRIES", "test.group"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("cellwright.api.registry.entry_points",
                        lambda group: points if group == "test.group" else [])
    return Registry("test.group", "thing", key=lambda e: e.id, check=check)


GOOD = f"from {__name__} import Entry\nENTRIES = [Entry('good.one'), Entry('good.two')]\n"


def test_entry_points_load_on_first_miss_and_a_broken_one_hides_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registry = make(monkeypatch, tmp_path, ("good", GOOD), ("broken", "raise ImportError('no cable')\n"))
    registry.register(Entry("builtin"))
    assert registry.get("builtin") == Entry("builtin")  # no entry point loaded for a hit
    assert registry.ids() == ["builtin", "good.one", "good.two"]
    assert registry.origin("good.one") == "entry point good (good_plugin:ENTRIES)"
    assert registry.load_errors == {"broken": "ImportError: no cable"}
    with pytest.raises(RegistryError) as unknown:
        registry.get("good.on")
    message = str(unknown.value)
    assert "did you mean 'good.one'?" in message and "no cable" in message


def test_a_plugin_taking_a_used_id_is_refused_and_reported(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    registry = make(monkeypatch, tmp_path, ("good", GOOD))
    registry.register(Entry("good.one"))
    assert registry.ids() == ["good.one", "good.two"]  # the plugin's other entry still loads
    assert registry.origin("good.one") == "register()"
    assert "'good.one' is already registered by register()" in registry.load_errors["good"]
    with pytest.raises(RegistryError, match="replace=True"):
        registry.register(Entry("good.one"))  # another object with the same id
    registry.register(Entry("good.one"), replace=True)


def test_an_entry_of_the_wrong_type_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registry = make(monkeypatch, tmp_path, ("odd", "ENTRIES = ['just a string']\n"))
    assert registry.ids() == []
    assert registry.load_errors == {"odd": "TypeError: not an Entry: str"}


def test_registry_list_shows_every_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_list(argparse.Namespace(json=True)) == 0
    listed = json.loads(capsys.readouterr().out)
    ids = {(row["registry"], row["id"]): row["origin"] for row in listed["entries"]}
    for key in (("robot", "pybullet.panda"), ("robot", "mock.panda"), ("skill", "pick_place"),
                ("world", "arm_cell")):
        assert ids[key] == "cellwright (built in)"
    assert listed["load_errors"] == {}


def test_two_threads_looking_up_a_plugin_first_both_find_it(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """The second lookup must wait for the first one's loading, not see a half-loaded table."""
    slow = f"import time\nfrom {__name__} import Entry\ntime.sleep(0.2)\nENTRIES = [Entry('slow.one')]\n"
    registry = make(monkeypatch, tmp_path, ("slow", slow))
    found: list[object] = []

    def look_up() -> None:
        try:
            found.append(registry.get("slow.one"))
        except RegistryError as exc:
            found.append(exc)

    threads = [threading.Thread(target=look_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [Entry("slow.one"), Entry("slow.one")]
