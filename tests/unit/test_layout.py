"""The line layout format: parsing, errors that name the file and key, and queries."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cellwright.api.layout import Layout, LayoutError, Station, load_layout

VALID = """\
apiVersion: cellwright/v1
kind: Layout
name: two_arms
mounts:
  a: {position: [0, -0.5, 0.4]}
  b: {position: [0, 0.5, 0.4], orientation_rpy: [0, 0, 3.14159265]}
stations:
  infeed: {center: [0.5, -0.5, 0.46], size: [0.34, 0.34, 0.12], surface_z: 0.41, reach: [a]}
  handover: {center: [0.4, 0, 0.46], size: [0.26, 0.26, 0.12], reach: [a, b]}
  shelf: {center: [2, 0, 1], size: [0.5, 0.5, 0.5]}
locations:
  infeed: {position: [0.5, -0.5, 0.438], orientation_rpy: [3.14159265, 0, 0], reach: [a]}
  drop: {position: [0.5, 0.5, 0.438], reach: [b]}
zones:
  handover_zone: {center: [0.4, 0, 0.6], size: [0.4, 0.4, 0.4], stations: [handover],
                  reach: [a, b]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "line.layout.yaml"
    path.write_text(text)
    return path


def test_a_valid_layout_is_parsed(tmp_path: Path) -> None:
    layout = load_layout(write(tmp_path, VALID))
    assert layout.name == "two_arms"
    assert layout.source == str(tmp_path / "line.layout.yaml")
    assert set(layout.mounts) == {"a", "b"}
    assert layout.mount("a").position == (0.0, -0.5, 0.4)
    assert layout.mount("a").orientation == (0.0, 0.0, 0.0, 1.0)
    assert layout.mount("b").orientation == pytest.approx((0.0, 0.0, 1.0, 0.0), abs=1e-8)  # yaw pi
    infeed = layout.station("infeed")
    assert (infeed.center, infeed.size, infeed.surface_z, infeed.reach) == (
        (0.5, -0.5, 0.46), (0.34, 0.34, 0.12), 0.41, ("a",))
    # Without surface_z, parts rest on the bottom of the station's box.
    assert layout.station("handover").surface_z == pytest.approx(0.40)
    drop = layout.location("drop")
    assert drop.pose.position == (0.5, 0.5, 0.438) and drop.reach == ("b",)
    zone = layout.zones["handover_zone"]
    assert (zone.stations, zone.reach) == (("handover",), ("a", "b"))


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    layout = load_layout(write(tmp_path, "mounts: {}\n"))
    assert layout.name == "line.layout"
    assert (dict(layout.stations), dict(layout.locations), dict(layout.zones)) == ({}, {}, {})


def test_unknown_lookups_list_what_is_known(tmp_path: Path) -> None:
    layout = load_layout(write(tmp_path, VALID))
    with pytest.raises(KeyError, match=r"no station 'outfeed'.*\['handover', 'infeed', 'shelf'\]"):
        layout.station("outfeed")
    with pytest.raises(KeyError, match=r"no location 'home'"):
        layout.location("home")
    with pytest.raises(KeyError, match=r"no mount 'c'.*\['a', 'b'\]"):
        layout.mount("c")


@pytest.mark.parametrize(("change", "key"), [
    (("  shelf: {center: [2, 0, 1], size: [0.5, 0.5, 0.5]}",
      "  shelf: {center: [2, 0, 1], size: [0.5, 0.5, 0.5], height: 1}"),
     "stations.shelf.height: unknown key"),
    (("name: two_arms", "name: two_arms\nmachines: {}"), "machines: unknown key"),
    (("  drop: {position: [0.5, 0.5, 0.438], reach: [b]}",
      "  drop: {position: [0.5, 0.5], reach: [b]}"),
     "locations.drop.position: expected a list of 3 numbers"),
    (("  a: {position: [0, -0.5, 0.4]}", "  a: {position: [0, -0.5, .nan]}"),
     "mounts.a.position: expected finite numbers"),
    (("  a: {position: [0, -0.5, 0.4]}", "  a: {position: [0, x, 0.4]}"),
     "mounts.a.position: expected numbers"),
    (("surface_z: 0.41", "surface_z: low"), "stations.infeed.surface_z: expected a number"),
    (("reach: [a]}\n  handover", "reach: [a, c]}\n  handover"),
     "stations.infeed.reach: 'c' is not a mount; mounts: ['a', 'b']"),
    (("drop: {position: [0.5, 0.5, 0.438], reach: [b]}",
      "drop: {position: [0.5, 0.5, 0.438], reach: [arm_b]}"),
     "locations.drop.reach: 'arm_b' is not a mount"),
    (("stations: [handover]", "stations: [handover, table]"),
     "zones.handover_zone.stations: 'table' is not a station"),
    (("stations: [handover]", "stations: handover"),
     "zones.handover_zone.stations: expected a list of names"),
    (("apiVersion: cellwright/v1", "apiVersion: cellwright/v2"),
     "apiVersion: 'cellwright/v2' is not supported; use cellwright/v1"),
    (("kind: Layout", "kind: World"), "kind: expected Layout, got 'World'"),
    (("  infeed: {center: [0.5, -0.5, 0.46], size",
      "  infeed: {size"), "stations.infeed: missing 'center'"),
])
def test_errors_name_the_file_and_key(tmp_path: Path, change: tuple[str, str], key: str) -> None:
    old, new = change
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(LayoutError) as caught:
        load_layout(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert key in str(caught.value)


def test_unreadable_and_non_yaml_files_are_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match=r"missing\.yaml"):
        load_layout(tmp_path / "missing.yaml")
    with pytest.raises(LayoutError, match="not valid YAML"):
        load_layout(write(tmp_path, "mounts: {a: [\n"))
    with pytest.raises(LayoutError, match="given twice"):
        load_layout(write(tmp_path, "mounts: {}\nmounts: {}\n"))
    with pytest.raises(LayoutError, match=r"line.layout.yaml: expected a mapping, got list"):
        load_layout(write(tmp_path, "- a\n"))


def test_station_contains_its_box_only() -> None:
    station = Station((0.5, 0.0, 0.46), (0.34, 0.34, 0.12), "infeed", 0.41, ("a",))
    assert station.contains((0.5, 0.0, 0.43))
    assert station.contains((0.5 + 0.169, 0.0 - 0.169, 0.401))  # just inside a corner
    assert not station.contains((0.5 + 0.171, 0.0, 0.43))
    assert not station.contains((0.5, 0.0, 0.53))  # above the box
    assert not station.contains((0.5, 0.0, 0.39))  # below it


def test_reachable_by_goes_by_mounts(tmp_path: Path) -> None:
    layout: Layout = load_layout(write(tmp_path, VALID))
    assert layout.reachable_by({"a"}) == {"infeed", "handover", "handover_zone"}
    assert layout.reachable_by({"b"}) == {"handover", "drop", "handover_zone"}
    assert layout.reachable_by({"a", "b"}) == {"infeed", "handover", "drop", "handover_zone"}
    assert layout.reachable_by(set()) == set()
    assert "shelf" not in layout.reachable_by({"a", "b"})  # nobody reaches it


def test_packaged_layouts_load() -> None:
    from cellwright.sim_worlds.registry import WORLDS_DIR

    arm_cell = load_layout(WORLDS_DIR / "arm_cell.layout.yaml")
    assert set(arm_cell.mounts) == {"panda"}
    assert {s.surface_z for s in arm_cell.stations.values()} == {0.41}
    line2 = load_layout(WORLDS_DIR / "line2.layout.yaml")
    assert math.dist(line2.mount("arm_a").position, line2.mount("arm_b").position) == \
        pytest.approx(1.0)
    assert line2.reachable_by({"arm_a"}) & line2.reachable_by({"arm_b"}) == {
        "handover", "handover_zone"}
    assert line2.zones["handover_zone"].stations == ("handover",)
