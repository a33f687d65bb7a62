"""The workflow graph (orchestrator.workflow.graph): SVG structure, layout, determinism, PNG."""

from __future__ import annotations

import importlib
import itertools
import types
import xml.etree.ElementTree as ET

import pytest

from cellwright.orchestrator.workflow.graph import PNG_HINT, render
from cellwright.orchestrator.workflow.model import OnFailure, Operator, Placement, Retry, Step, Workflow

SVG = "{http://www.w3.org/2000/svg}"


def diamond() -> Workflow:
    return Workflow(
        name="diamond", description="A <diamond> & friends", params_schema={}, version=2,
        steps=(Step("a", skill="move_to"), Step("b", skill="scan", needs=("a",)),
               Step("c", skill="pick_place", needs=("a",)), Step("d", skill="move_to", needs=("b", "c"))))


def featured() -> Workflow:
    """A repeated step, an operator step, a recovery step, same_cell_as, a long edge."""
    return Workflow(
        name="kitting", description="Build a kit", params_schema={}, version=7,
        steps=(
            Step("first", skill="move_to", place=Placement(cells=("arm-a",))),
            Step("pick", skill="pick_place", needs=("first",), for_each="${params.parts}", timeout_s=30,
                 retry=Retry(attempts=3, backoff_s=2), on_failure=OnFailure("run", "go_home", "hold"),
                 place=Placement(same_cell_as="first", kind="arm", tags=("gripper-2f",), model="franka_panda"),
                 reserve=("handover",)),
            Step("scan", skill="scan", needs=("first",), when="${params.inspect}", count="3"),
            Step("check", operator=Operator("Check the kit in ${params.tray} <now> & confirm", timeout_s=600),
                 needs=("pick", "scan")),
            Step("ship", skill="convey", needs=("check", "first"), on_failure=OnFailure("continue")),
        ),
        recovery=(Step("go_home", skill="move_to", on_failure=OnFailure("run", "alarm")), Step("alarm", skill="beep")))


def big() -> Workflow:
    """30 steps, several roots, fan-in and edges spanning many layers."""
    steps = []
    for i in range(30):
        needs = [f"s{j:02d}" for j in (i - 1, i - 3, i - 7) if j >= 0 and (i % 2 or j == i - 1)]
        if i % 10 == 0:
            needs = []  # a new root every 10 steps
        steps.append(Step(f"s{i:02d}", skill=f"skill_{i % 4}", needs=tuple(needs),
                          count="2" if i % 5 == 0 else "", timeout_s=12.5 if i % 6 == 0 else 0))
    return Workflow(name="big", description="", params_schema={}, steps=tuple(steps))


def parse(svg: bytes) -> ET.Element:
    assert svg.startswith(b"<?xml")
    return ET.fromstring(svg)


def classes(el: ET.Element) -> set[str]:
    return set(el.get("class", "").split())


def edges(root: ET.Element, kind: str) -> list[ET.Element]:
    return [p for p in root.iter(f"{SVG}path") if {"edge", kind} <= classes(p)]


def node_rects(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out: dict[str, tuple[float, float, float, float]] = {}
    for g in root.iter(f"{SVG}g"):
        step = g.get("data-step")
        if step is None:
            continue
        (rect,) = [r for r in g.findall(f"{SVG}rect") if "node" in classes(r)]
        out[step] = tuple(float(rect.get(k, "nan")) for k in ("x", "y", "width", "height"))  # type: ignore[assignment]
    return out


def all_text(root: ET.Element) -> str:
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


WORKFLOWS = [diamond(), featured(), big()]


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda wf: wf.name)
def test_svg_is_well_formed_with_every_step_and_edge(wf: Workflow) -> None:
    root = parse(render(wf, "svg"))
    rects = node_rects(root)
    assert set(rects) == {s.id for s in (*wf.steps, *wf.recovery)}
    text = all_text(root)
    for s in (*wf.steps, *wf.recovery):
        assert s.id in text
    assert len(edges(root, "need")) == sum(len(s.needs) for s in wf.steps)
    assert len(edges(root, "same-cell")) == sum(bool(s.place.same_cell_as) for s in wf.steps)
    assert len(edges(root, "recovery")) == sum(s.on_failure.action == "run" for s in (*wf.steps, *wf.recovery))
    needs = {(p.get("data-from"), p.get("data-to")) for p in edges(root, "need")}
    assert needs == {(n, s.id) for s in wf.steps for n in s.needs}


@pytest.mark.parametrize("wf", WORKFLOWS, ids=lambda wf: wf.name)
def test_boxes_do_not_overlap_and_fit_the_canvas(wf: Workflow) -> None:
    root = parse(render(wf, "svg"))
    width, height = float(root.get("width", "0")), float(root.get("height", "0"))
    rects = node_rects(root)
    for (a, (ax, ay, aw, ah)), (b, (bx, by, bw, bh)) in itertools.combinations(rects.items(), 2):
        apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
        assert apart, f"{a} overlaps {b}"
    for x, y, w, h in rects.values():
        assert 0 <= x <= x + w <= width
        assert 0 <= y <= y + h <= height


def test_layers_follow_the_longest_path() -> None:
    rects = node_rects(parse(render(featured(), "svg")))
    x = {k: v[0] for k, v in rects.items()}
    assert x["first"] < x["pick"] == x["scan"] < x["check"] < x["ship"]
    # recovery steps: their own row, below every step
    lowest = max(y + h for k, (_, y, _, h) in rects.items() if k not in ("go_home", "alarm"))
    assert rects["go_home"][1] > lowest and rects["alarm"][1] == rects["go_home"][1]


def test_diamond_has_no_crossings_and_branches_stack() -> None:
    rects = node_rects(parse(render(diamond(), "svg")))
    assert rects["b"][0] == rects["c"][0]
    assert rects["b"][1] != rects["c"][1]
    assert rects["a"][0] < rects["b"][0] < rects["d"][0]


def test_badges_styles_and_escaping() -> None:
    svg = render(featured(), "svg")
    root = parse(svg)
    text = all_text(root)
    for badge in ("for each ${params.parts}", "\u00d73", "when ${params.inspect}", "timeout 30s", "retry 3 (2s)",
                  "on_failure: run go_home, then hold", "on_failure: continue", "reserve: handover",
                  "cell: arm-a", "tags: gripper-2f", "kind: arm", "model: franka_panda", "same_cell_as: first",
                  "confirm within 10m", "kitting@7", "Build a kit"):
        assert badge in text, badge
    assert "operator: Check the kit in $" in text  # shortened in the box, whole in its tooltip
    tips = {g.get("data-step"): g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g") if g.get("data-step")}
    assert tips["check"] == "check\noperator: Check the kit in ${params.tray} <now> & confirm"
    assert b"&lt;now&gt; &amp;" in svg
    boxes = {g.get("data-step"): classes(g) for g in root.iter(f"{SVG}g") if g.get("data-step")}
    assert "operator" in boxes["check"] and "recovery" in boxes["go_home"] and "step" in boxes["first"]
    (rec_rect,) = [r for g in root.iter(f"{SVG}g") if g.get("data-step") == "go_home"
                   for r in g.findall(f"{SVG}rect") if "node" in classes(r)]
    assert rec_rect.get("stroke-dasharray")
    assert all(p.get("stroke-dasharray") for p in edges(root, "recovery"))
    assert all(p.get("stroke-dasharray") for p in edges(root, "same-cell"))
    assert not any(p.get("stroke-dasharray") for p in edges(root, "need"))
    assert root.find(f"{SVG}g[@class='legend']") is not None


def test_long_text_is_shortened_and_hostile_text_stays_well_formed() -> None:
    long_id = "x" * 60
    wf = Workflow(name="odd", description="line one\nline two \x01 ]]> <!-- -->\n" + "word " * 400,
                  params_schema={},
                  steps=(Step(long_id, operator=Operator("please " * 50)),
                         Step("b", skill='say"hi"<&>', needs=(long_id,), when="${a} < 3 && \"x\"")))
    root = parse(render(wf, "svg"))
    assert set(node_rects(root)) == {long_id, "b"}
    text = all_text(root)
    assert "…" in text and 'say"hi"<&>' in text
    assert "\x01" not in text


def test_deterministic() -> None:
    for wf in WORKFLOWS:
        assert render(wf, "svg") == render(wf, "svg")
    assert render(big(), "svg") == render(big(), "svg")  # rebuilt from scratch


def test_empty_and_unknown_format() -> None:
    root = parse(render(Workflow(name="empty", description="", params_schema={}, steps=()), "svg"))
    assert node_rects(root) == {}
    with pytest.raises(ValueError, match="svg or png"):
        render(diamond(), "pdf")


def test_png() -> None:
    pytest.importorskip("matplotlib")
    png = render(featured(), "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert render(big(), "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_png_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import_module = importlib.import_module

    def no_matplotlib(name: str, package: str | None = None) -> types.ModuleType:
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real_import_module(name, package)

    monkeypatch.setattr(importlib, "import_module", no_matplotlib)
    with pytest.raises(RuntimeError) as err:
        render(diamond(), "png")
    assert str(err.value) == PNG_HINT == "PNG needs matplotlib: pip install 'cellwright[plots]' (or write .svg)"
