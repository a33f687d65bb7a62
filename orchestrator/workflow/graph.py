"""Draw a workflow's step DAG: `render(workflow, "svg" | "png") -> bytes`.

The SVG is written here (no graphviz: nothing is downloaded or shelled out to at run time);
the PNG draws the very same scene with matplotlib (Agg, no pyplot, no global state), which
is an optional dependency (`pip install 'cellwright[plots]'`).

Layout (a small Sugiyama):

- a step's layer is 1 + the largest layer among its needs (longest path); layers are
  columns, left to right. A need spanning several layers passes through a thin reserved
  slot in every column in between, so no edge runs through a box.
- within a column, steps are ordered by barycenter sweeps (down, up, ...), keeping the
  order with the fewest crossings; then each box is pulled towards the mean height of its
  neighbours without ever overlapping the next one.
- recovery steps (run only from `on_failure: {run: ...}`) sit in their own row below the
  DAG, in dashed boxes; the dashed edge to one leaves its step on the right, drops through
  the gap between columns and runs along a channel under the DAG.
- edges: `needs` solid arrows (smooth cubic paths), on_failure runs dashed red arrows,
  `same_cell_as` dotted green lines. A title (name@version, description) on top, a legend
  at the bottom.

Each box shows the step id (bold), the skill (or "operator: <prompt>", shortened) and small
badges for what matters: repetition (times N, for each), when, timeout, retry, on_failure,
reserve and placement terms.

The output depends on the workflow only (same input, same bytes): fit for golden tests.
SVG elements carry classes for tests and styling: `rect.node` (one per step, with the step
id in its group's `data-step`), `path.edge.need`, `path.edge.recovery`, `path.edge.same-cell`.
"""

from __future__ import annotations

import importlib
import io
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from cellwright.orchestrator.workflow.model import Step, Workflow

__all__ = ["PNG_HINT", "render"]

PNG_HINT = "PNG needs matplotlib: pip install 'cellwright[plots]' (or write .svg)"

# Geometry, in px (the SVG user unit; the PNG draws 1 unit = 1 px at 100 dpi, saved at 1.5x).
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
MARGIN = 24.0
ID_SIZE = 13.0
SUB_SIZE = 11.0
BADGE_SIZE = 10.0
PAD = 10.0
BADGE_H = 16.0
BADGE_GAP = 4.0
MIN_W = 150.0
MAX_W = 280.0
HGAP = 96.0  # between columns: room for curves and the recovery lanes
VGAP = 22.0  # between boxes in a column
VSLOT = 8.0  # the reserved slot a long edge takes in a column it crosses
LANE = 6.0  # spacing of parallel recovery lanes and channels
RADIUS = 8.0
ARROW_LEN = 9.0
ARROW_HALF = 4.0
PNG_DPI = 150
TIMES = "\u00d7"  # the multiplication sign of the times-N badge

# Palette.
INK = "#263238"
MUTED = "#607d8b"
EDGE_NEED = "#546e7a"
EDGE_RECOVERY = "#c62828"
EDGE_SAME = "#2e7d32"
NODE_STYLE = {  # kind -> (fill, stroke, dash)
    "step": ("#ffffff", "#455a64", ""),
    "operator": ("#fffde7", "#f9a825", ""),
    "recovery": ("#fafafa", "#8d6e63", "dashed"),
}
BADGE_STYLE = {  # kind -> (fill, stroke, text)
    "repeat": ("#ede7f6", "#7e57c2", "#4527a0"),
    "when": ("#e3f2fd", "#1e88e5", "#0d47a1"),
    "limit": ("#fff3e0", "#fb8c00", "#e65100"),
    "failure": ("#ffebee", "#e53935", "#b71c1c"),
    "reserve": ("#e0f2f1", "#00897b", "#004d40"),
    "place": ("#e8f5e9", "#43a047", "#1b5e20"),
}


def render(workflow: Workflow, fmt: str) -> bytes:
    """The workflow's step DAG as an SVG document (fmt "svg") or a PNG image (fmt "png").

    PNG needs matplotlib (RuntimeError with the install hint if it is missing); ValueError
    for any other fmt.
    """
    kind = fmt.lower().lstrip(".")
    if kind == "svg":
        return _svg(_layout(workflow))
    if kind == "png":
        return _png(_layout(workflow))
    raise ValueError(f"unknown graph format {fmt!r}: use svg or png")


# ---------------------------------------------------------------------------------------
# The scene: drawing primitives both back ends draw the same way.


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str
    dash: str = ""  # "" | "dashed" | "dotted"
    r: float = RADIUS
    width: float = 1.2
    cls: str = ""


@dataclass(frozen=True)
class _Label:
    x: float
    y: float  # baseline
    text: str
    size: float
    color: str = INK
    bold: bool = False
    anchor: str = "start"  # start | middle
    cls: str = ""


Cmd = tuple[str, tuple[float, ...]]  # ("M", (x, y)) | ("L", (x, y)) | ("C", (x1, y1, x2, y2, x, y))


@dataclass(frozen=True)
class _Curve:
    cmds: tuple[Cmd, ...]
    color: str
    dash: str = ""
    arrow: bool = True
    width: float = 1.4
    cls: str = ""
    data: tuple[tuple[str, str], ...] = ()


@dataclass
class _Group:
    cls: str
    items: list[_Box | _Label] = field(default_factory=list)
    data: tuple[tuple[str, str], ...] = ()
    tooltip: str = ""


@dataclass
class _Scene:
    width: float
    height: float
    title: str
    description: str
    groups: list[_Group]  # drawn in order; edges go between "title" and the nodes
    edges: list[_Curve]


# ---------------------------------------------------------------------------------------
# Text helpers.

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("", text)


def _one_line(text: str) -> str:
    return " ".join(_clean(text).split())


def _text_w(text: str, size: float, bold: bool = False) -> float:
    """A generous estimate of the drawn width (DejaVu Sans, the widest usual face, averages
    under 0.5 em a glyph in ids and expressions; Helvetica and Arial are narrower)."""
    return len(text) * size * _em(bold)


def _em(bold: bool) -> float:
    return 0.62 if bold else 0.56


def _fit(text: str, max_w: float, size: float, bold: bool = False) -> str:
    """`text` on one line, cut with an ellipsis to fit `max_w`."""
    text = _one_line(text)
    if _text_w(text, size, bold) <= max_w:
        return text
    keep = max(1, int(max_w / (size * _em(bold))) - 1)
    return text[:keep].rstrip() + "…"


def _wrap(text: str, max_w: float, size: float, max_lines: int) -> list[str]:
    per_line = max(8, int(max_w / (size * _em(False))))
    lines: list[str] = []
    for para in _clean(text).splitlines():
        words = para.split()
        line = ""
        for word in words:
            while len(word) > per_line:  # a very long token: hard-break it
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:per_line])
                word = word[per_line:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= per_line:
                line += " " + word
            else:
                lines.append(line)
                line = word
        if line:
            lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit(lines[-1] + " …", max_w, size)
        if not lines[-1].endswith("…"):
            lines[-1] = lines[-1].rstrip(" .…") + " …"
    return lines


def _num(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{_num(seconds * 1000)}ms"
    if seconds % 3600 == 0:
        return f"{_num(seconds / 3600)}h"
    if seconds % 60 == 0:
        return f"{_num(seconds / 60)}m"
    return f"{_num(seconds)}s"


# ---------------------------------------------------------------------------------------
# What a box shows.


def _subtitle(step: Step) -> str:
    if step.operator is not None:
        return "operator: " + _one_line(step.operator.prompt)
    return _one_line(step.skill) or "(no skill)"


def _badges(step: Step) -> list[tuple[str, str]]:
    """(kind, text) for each badge of the step, in a fixed order."""
    out: list[tuple[str, str]] = []
    if step.for_each:
        out.append(("repeat", "for each " + _one_line(step.for_each)))
    if step.count:
        count = _one_line(step.count)
        out.append(("repeat", f"{TIMES}{count}" if count.isdigit() else f"{TIMES} {count}"))
    if step.when:
        out.append(("when", "when " + _one_line(step.when)))
    if step.timeout_s > 0:
        out.append(("limit", f"timeout {_duration(step.timeout_s)}"))
    if step.operator is not None and step.operator.timeout_s > 0:
        out.append(("limit", f"confirm within {_duration(step.operator.timeout_s)}"))
    if step.retry.attempts > 1:
        backoff = f" ({_duration(step.retry.backoff_s)})" if step.retry.backoff_s > 0 else ""
        on = f" on {', '.join(step.retry.on)}" if step.retry.on else ""
        out.append(("limit", f"retry {step.retry.attempts}{backoff}{on}"))
    failure = step.on_failure
    if failure.action == "run":
        then = f", then {failure.then}" if failure.then != "fail" else ""
        out.append(("failure", f"on_failure: run {failure.step}{then}"))
    elif failure.action != "fail":
        out.append(("failure", f"on_failure: {failure.action}"))
    if step.reserve:
        out.append(("reserve", "reserve: " + ", ".join(step.reserve)))
    place = step.place
    if len(place.cells) == 1:
        out.append(("place", f"cell: {place.cells[0]}"))
    elif place.cells:
        out.append(("place", "cells: " + ", ".join(place.cells)))
    if place.tags:
        out.append(("place", "tags: " + ", ".join(place.tags)))
    if place.kind:
        out.append(("place", f"kind: {place.kind}"))
    if place.model:
        out.append(("place", f"model: {place.model}"))
    if place.same_cell_as:
        out.append(("place", f"same_cell_as: {place.same_cell_as}"))
    return [(kind, _one_line(text)) for kind, text in out]


def _badge_w(text: str) -> float:
    return _text_w(text, BADGE_SIZE) + 10.0


def _node_width(step: Step) -> float:
    want = max(
        _text_w(_one_line(step.id), ID_SIZE, bold=True) + 2 * PAD,
        _text_w(_subtitle(step), SUB_SIZE) + 2 * PAD,
        *(_badge_w(text) + 2 * PAD for _, text in _badges(step)),
    )
    return min(MAX_W, max(MIN_W, math.ceil(want)))


@dataclass
class _Node:
    step: Step
    kind: str  # step | operator | recovery
    w: float = 0.0
    h: float = 0.0
    x: float = 0.0
    y: float = 0.0
    title: str = ""
    subtitle: str = ""
    badges: list[tuple[str, str, float, float, float]] = field(default_factory=list)  # kind, text, dx, dy, w

    def size(self, w: float) -> None:
        """Fix the width; lay the badges out in rows inside it; that gives the height."""
        self.w = w
        inner = w - 2 * PAD
        self.title = _fit(self.step.id, inner, ID_SIZE, bold=True)
        self.subtitle = _fit(_subtitle(self.step), inner, SUB_SIZE)
        top = PAD + ID_SIZE + 4 + SUB_SIZE + 8
        dx, dy = PAD, top
        self.badges = []
        for kind, text in _badges(self.step):
            shown = _fit(text, inner - 10, BADGE_SIZE)
            bw = min(inner, _badge_w(shown))
            if dx > PAD and dx + bw > w - PAD:
                dx, dy = PAD, dy + BADGE_H + BADGE_GAP
            self.badges.append((kind, shown, dx, dy, bw))
            dx += bw + BADGE_GAP
        self.h = dy + BADGE_H + PAD if self.badges else top - 8 + PAD

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def group(self) -> _Group:
        fill, stroke, dash = NODE_STYLE[self.kind]
        items: list[_Box | _Label] = [
            _Box(self.x, self.y, self.w, self.h, fill, stroke, dash, width=1.4, cls="node"),
            _Label(self.x + PAD, self.y + PAD + ID_SIZE, self.title, ID_SIZE, bold=True, cls="step-id"),
            _Label(self.x + PAD, self.y + PAD + ID_SIZE + 4 + SUB_SIZE, self.subtitle, SUB_SIZE, MUTED,
                   cls="skill"),
        ]
        for kind, text, dx, dy, bw in self.badges:
            items.extend(_badge(self.x + dx, self.y + dy, bw, kind, text))
        tooltip = _clean(self.step.id)
        if self.step.operator is not None:  # the box shows it shortened
            tooltip += "\noperator: " + _clean(self.step.operator.prompt)
        if self.step.description:
            tooltip += "\n" + _clean(self.step.description)
        return _Group(f"step {self.kind}", items, (("step", _clean(self.step.id)),), tooltip)


def _badge(x: float, y: float, w: float, kind: str, text: str) -> list[_Box | _Label]:
    fill, stroke, ink = BADGE_STYLE[kind]
    return [_Box(x, y, w, BADGE_H, fill, stroke, r=BADGE_H / 2, width=0.8, cls=f"badge {kind}"),
            _Label(x + w / 2, y + BADGE_H - 4.5, text, BADGE_SIZE, ink, anchor="middle", cls="badge-text")]


# ---------------------------------------------------------------------------------------
# Layout.


def _layers(steps: Sequence[Step]) -> list[int]:
    """Longest-path layer of each step (needs of unknown steps ignored, cycles broken)."""
    index: dict[str, int] = {}
    for i, step in enumerate(steps):
        index.setdefault(step.id, i)
    layer: list[int | None] = [None] * len(steps)
    visiting: set[int] = set()

    def visit(i: int) -> int:
        done = layer[i]
        if done is not None:
            return done
        visiting.add(i)
        best = 0
        for need in steps[i].needs:
            j = index.get(need)
            if j is not None and j not in visiting:
                best = max(best, visit(j) + 1)
        visiting.discard(i)
        layer[i] = best
        return best

    return [visit(i) for i in range(len(steps))]


@dataclass
class _Slot:
    layer: int
    node: int  # index into the main nodes; -1 for a slot a long edge passes through
    key: float  # initial order
    h: float = VSLOT
    cy: float = 0.0
    preds: list[int] = field(default_factory=list)
    succs: list[int] = field(default_factory=list)


@dataclass
class _Route:
    src: int  # main node index
    dst: int
    kind: str  # need | same-cell
    slots: list[int]  # the slots it passes through, in layer order


def _crossings(order: list[list[int]], slots: list[_Slot]) -> int:
    total = 0
    for layer in order[:-1]:
        pos_here = {s: i for i, s in enumerate(layer)}
        edges: list[tuple[int, int]] = []
        for s in layer:
            nxt = slots[s].succs
            for t in nxt:
                edges.append((pos_here[s], t))
        if not edges:
            continue
        pos_next = {s: i for i, s in enumerate(order[slots[edges[0][1]].layer])}
        pairs = [(a, pos_next[b]) for a, b in edges]
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1:]:
                if (a1 - a2) * (b1 - b2) < 0:
                    total += 1
    return total


def _order(order: list[list[int]], slots: list[_Slot]) -> list[list[int]]:
    """Barycenter sweeps, down and up, twice; the order with the fewest crossings wins."""
    best = [list(layer) for layer in order]
    best_crossings = _crossings(best, slots)
    current = [list(layer) for layer in order]
    for sweep in range(4):
        down = sweep % 2 == 0
        layer_ids = range(1, len(current)) if down else range(len(current) - 2, -1, -1)
        for li in layer_ids:
            ref = {s: i for i, s in enumerate(current[li - 1 if down else li + 1])}
            keys: dict[int, tuple[float, int]] = {}
            for here, s in enumerate(current[li]):
                near = [ref[t] for t in (slots[s].preds if down else slots[s].succs) if t in ref]
                keys[s] = (sum(near) / len(near) if near else float(here), here)
            current[li].sort(key=keys.__getitem__)
        crossings = _crossings(current, slots)
        if crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in current], crossings
    return best


def _place_column(column: list[int], slots: list[_Slot], desired: list[float]) -> None:
    """Centre heights as near `desired` as the order and the gaps allow (the mean of a
    forward and a backward packing; both keep every gap, so their mean does too)."""
    n = len(column)
    hs = [slots[s].h for s in column]
    fwd = list(desired)
    for i in range(1, n):
        fwd[i] = max(desired[i], fwd[i - 1] + (hs[i - 1] + hs[i]) / 2 + VGAP)
    bwd = list(desired)
    for i in range(n - 2, -1, -1):
        bwd[i] = min(desired[i], bwd[i + 1] - (hs[i] + hs[i + 1]) / 2 - VGAP)
    for i, s in enumerate(column):
        slots[s].cy = (fwd[i] + bwd[i]) / 2


def _smooth(points: Sequence[tuple[float, float]]) -> list[Cmd]:
    """Horizontal-tangent cubics through `points`; pairs at the same height are straight."""
    cmds: list[Cmd] = [("M", points[0])]
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        if abs(y1 - y2) < 0.05:
            cmds.append(("L", (x2, y2)))
        else:
            dx = max(abs(x2 - x1) / 2, 24.0)
            cmds.append(("C", (x1 + dx, y1, x2 - dx, y2, x2, y2)))
    return cmds


def _orthogonal(points: Sequence[tuple[float, float]], radius: float = 10.0) -> list[Cmd]:
    """A polyline of axis-parallel legs with rounded corners."""
    cmds: list[Cmd] = [("M", points[0])]
    for i in range(1, len(points) - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[i - 1], points[i], points[i + 1]
        d_in = math.hypot(x1 - x0, y1 - y0)
        d_out = math.hypot(x2 - x1, y2 - y1)
        r = min(radius, d_in / 2, d_out / 2)
        if r < 0.5:
            cmds.append(("L", (x1, y1)))
            continue
        ax, ay = x1 - (x1 - x0) / d_in * r, y1 - (y1 - y0) / d_in * r
        bx, by = x1 + (x2 - x1) / d_out * r, y1 + (y2 - y1) / d_out * r
        cmds.append(("L", (ax, ay)))
        k = 0.55  # quarter circle as a cubic
        cmds.append(("C", (ax + (x1 - ax) * k, ay + (y1 - ay) * k, bx + (x1 - bx) * k, by + (y1 - by) * k, bx, by)))
    cmds.append(("L", points[-1]))
    return cmds


def _direct(a: _Node, b: _Node, dy: float = 0.0) -> list[Cmd]:
    """An edge the layered routing does not cover (never for a validated workflow)."""
    x1, y1 = a.x + a.w, a.cy + dy
    x2, y2 = b.x, b.cy + dy
    dx = max(abs(x2 - x1) / 2, 40.0)
    return [("M", (x1, y1)), ("C", (x1 + dx, y1, x2 - dx, y2, x2, y2))]


def _layout(workflow: Workflow) -> _Scene:
    steps = workflow.steps
    main = [_Node(s, "operator" if s.operator is not None else "step") for s in steps]
    rec = [_Node(s, "recovery") for s in workflow.recovery]
    main_at: dict[str, int] = {}
    for i, st in enumerate(steps):
        main_at.setdefault(st.id, i)
    rec_at: dict[str, int] = {}
    for i, st in enumerate(workflow.recovery):
        rec_at.setdefault(st.id, i)

    # Layers and the edges the layered routing draws.
    layer = _layers(steps)
    n_layers = max(layer, default=-1) + 1
    wanted: list[tuple[int, int, str]] = []
    for i, st in enumerate(steps):
        for need in st.needs:
            if need in main_at:
                wanted.append((main_at[need], i, "need"))
        if st.place.same_cell_as in main_at:
            wanted.append((main_at[st.place.same_cell_as], i, "same-cell"))

    slots = [_Slot(layer[i], i, float(i)) for i in range(len(steps))]
    routes: list[_Route] = []
    direct: list[tuple[int, int, str]] = []
    for src, dst, kind in wanted:
        if layer[src] >= layer[dst]:
            direct.append((src, dst, kind))
            continue
        chain: list[int] = []
        prev = src
        for li in range(layer[src] + 1, layer[dst]):
            slots.append(_Slot(li, -1, src + 0.5))
            chain.append(len(slots) - 1)
        for s in [*chain, dst]:
            slots[prev].succs.append(s)
            slots[s].preds.append(prev)
            prev = s
        routes.append(_Route(src, dst, kind, chain))

    order: list[list[int]] = [[] for _ in range(n_layers)]
    for si, slot in enumerate(slots):
        order[slot.layer].append(si)
    for column in order:
        column.sort(key=lambda s: (slots[s].key, s))
    order = _order(order, slots)

    # Widths: a column is as wide as its widest box.
    col_w = [MIN_W] * n_layers
    for i, node in enumerate(main):
        col_w[layer[i]] = max(col_w[layer[i]], _node_width(node.step))
    col_x: list[float] = []
    x = MARGIN
    for w in col_w:
        col_x.append(x)
        x += w + HGAP
    for i, node in enumerate(main):
        node.size(col_w[layer[i]])
        node.x = col_x[layer[i]]
        slots[i].h = node.h
    for node in rec:
        node.size(_node_width(node.step))
    graph_right = col_x[-1] + col_w[-1] if col_x else MARGIN

    # Title.
    title = _clean(workflow.ref if workflow.version else workflow.name)
    text_w = max(graph_right - MARGIN, 520.0)
    desc_lines = _wrap(workflow.description, text_w, 12.0, 4)
    title_group = _Group("title", [_Label(MARGIN, MARGIN + 18, _fit(title, text_w, 18.0, True), 18.0, bold=True,
                                          cls="title")])
    y = MARGIN + 18
    for line in desc_lines:
        y += 17
        title_group.items.append(_Label(MARGIN, y, line, 12.0, MUTED, cls="description"))
    title_w = max([_text_w(title, 18.0, True), *(_text_w(t, 12.0) for t in desc_lines)], default=0.0)
    graph_top = y + 28

    # Heights: stack, then pull towards predecessors, successors, then both.
    for column in order[:1]:
        cy = 0.0
        for s in column:
            slots[s].cy = cy + slots[s].h / 2
            cy += slots[s].h + VGAP
    for li in range(1, n_layers):
        desired = [_mean([slots[t].cy for t in slots[s].preds], 0.0) for s in order[li]]
        _place_column(order[li], slots, desired)
    for li in range(n_layers - 2, -1, -1):
        desired = [_mean([slots[t].cy for t in slots[s].succs], slots[s].cy) for s in order[li]]
        _place_column(order[li], slots, desired)
    for li in range(n_layers):
        desired = [_mean([slots[t].cy for t in (*slots[s].preds, *slots[s].succs)], slots[s].cy)
                   for s in order[li]]
        _place_column(order[li], slots, desired)
    top = min((sl.cy - sl.h / 2 for sl in slots), default=0.0)
    for sl in slots:
        sl.cy += graph_top - top
    for i, node in enumerate(main):
        node.y = slots[i].cy - node.h / 2
    graph_bottom = max((sl.cy + sl.h / 2 for sl in slots), default=graph_top - 28)

    # Edges between main steps.
    edges: list[_Curve] = []
    style = {"need": (EDGE_NEED, "", True), "same-cell": (EDGE_SAME, "dotted", False)}
    for route in routes:
        a, b = main[route.src], main[route.dst]
        dy = 6.0 if route.kind == "same-cell" else 0.0
        points = [(a.x + a.w, a.cy + dy)]
        for s in route.slots:
            cx, cy = col_x[slots[s].layer], slots[s].cy
            points += [(cx, cy), (cx + col_w[slots[s].layer], cy)]
        points.append((b.x, b.cy + dy))
        color, dash, arrow = style[route.kind]
        edges.append(_Curve(tuple(_smooth(points)), color, dash, arrow, cls=f"edge {route.kind}",
                            data=(("from", _clean(a.step.id)), ("to", _clean(b.step.id)))))
    for src, dst, kind in direct:
        color, dash, arrow = style[kind]
        edges.append(_Curve(tuple(_direct(main[src], main[dst], 6.0 if kind == "same-cell" else 0.0)), color, dash,
                            arrow, cls=f"edge {kind}",
                            data=(("from", _clean(steps[src].id)), ("to", _clean(steps[dst].id)))))

    # Recovery: lanes in the gap right of the failing step's column, channels under the DAG,
    # the row of recovery boxes below the channels.
    runs: list[tuple[int, int, float]] = []  # main index, recovery index, lane x
    lanes_used = [0] * n_layers
    for i in sorted(range(len(steps)), key=lambda i: (layer[i], slots[i].cy, i)):
        failure = steps[i].on_failure
        if failure.action == "run" and failure.step in rec_at:
            li = layer[i]
            lane = col_x[li] + col_w[li] + 14 + (lanes_used[li] % max(1, int((HGAP - 28) / LANE))) * LANE
            lanes_used[li] += 1
            runs.append((i, rec_at[failure.step], lane))
    rec_top = graph_bottom + 18 + len(runs) * LANE + 22 if runs else graph_bottom + 36
    if not steps:
        rec_top = graph_top
    anchor: dict[int, float] = {}
    for _, r, lane in runs:
        anchor.setdefault(r, lane)
    rec_order = sorted(range(len(rec)), key=lambda r: (r not in anchor, anchor.get(r, 0.0), r))
    x = MARGIN
    for r in rec_order:
        node = rec[r]
        want = anchor.get(r, x + node.w / 2) - node.w / 2
        node.x = max(want, x)
        node.y = rec_top
        x = node.x + node.w + 24
    for k, (i, r, lane) in enumerate(runs):
        a, b = main[i], rec[r]
        start = (a.x + a.w, a.y + a.h - min(12.0, a.h / 4))
        channel = graph_bottom + 18 + k * LANE
        target_x = min(max(lane, b.x + 16), b.x + b.w - 16)
        points = [start, (lane, start[1]), (lane, channel), (target_x, channel), (target_x, b.y)]
        edges.append(_Curve(tuple(_orthogonal(points)), EDGE_RECOVERY, "dashed", cls="edge recovery",
                            data=(("from", _clean(a.step.id)), ("to", _clean(b.step.id)))))
    rec_bottom = max((n.y + n.h for n in rec), default=graph_bottom)
    arcs = 0
    for ri, node in enumerate(rec):
        failure = node.step.on_failure
        target = rec_at.get(failure.step, -1) if failure.action == "run" else -1
        if target < 0 or target == ri:
            continue
        b = rec[target]
        x1, y1 = node.x + node.w / 2, node.y + node.h
        x2, y2 = b.x + b.w / 2, b.y + b.h
        low = rec_bottom + 30 + arcs * LANE
        arcs += 1
        edges.append(_Curve((("M", (x1, y1)), ("C", (x1, low, x2, low, x2, y2))), EDGE_RECOVERY, "dashed",
                            cls="edge recovery", data=(("from", _clean(node.step.id)), ("to", _clean(b.step.id)))))
    bottom = rec_bottom + (30 + arcs * LANE if arcs else 0.0) if rec else graph_bottom

    # Legend.
    legend, legend_w, legend_h = _legend(MARGIN, bottom + 28, max(graph_right - MARGIN, 520.0))

    right = max([graph_right, MARGIN + title_w, MARGIN + legend_w, *(n.x + n.w for n in rec),
                 *(lane + 4 for _, _, lane in runs)])
    width = math.ceil(right + MARGIN)
    height = math.ceil(bottom + 28 + legend_h + MARGIN)
    groups = [title_group, *(n.group() for n in main), *(n.group() for n in rec), legend]
    return _Scene(width, height, title, _clean(workflow.description).strip(), groups, edges)


def _mean(values: Sequence[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _legend(x0: float, y0: float, max_w: float) -> tuple[_Group, float, float]:
    """The legend strip: what edges, boxes and badges mean; wraps to `max_w`."""
    group = _Group("legend")
    entries: list[tuple[float, str, str]] = []  # width, what, label
    for what, label in (("need", "needs"), ("recovery", "on_failure: run"), ("same-cell", "same_cell_as")):
        entries.append((40 + _text_w(label, 11.0), what, label))
    for what, label in (("step", "skill step"), ("operator", "operator step"), ("recovery-box", "recovery step")):
        entries.append((28 + _text_w(label, 11.0), what, label))
    for what, label in (("repeat", f"{TIMES}N / for each"), ("when", "when"), ("limit", "timeout / retry"),
                        ("failure", "on_failure"), ("reserve", "reserve"), ("place", "placement")):
        entries.append((_badge_w(label), what, label))
    row_h = 22.0
    x, y = x0 + 10, y0 + 10
    used_w = 0.0
    for w, what, label in entries:
        if x > x0 + 10 and x + w > x0 + max_w - 10:
            x, y = x0 + 10, y + row_h
        mid = y + 8
        if what in ("need", "recovery", "same-cell"):
            color, dash, arrow = {"need": (EDGE_NEED, "", True), "recovery": (EDGE_RECOVERY, "dashed", True),
                                  "same-cell": (EDGE_SAME, "dotted", False)}[what]
            period, seg = {"": (26.0, 26.0), "dashed": (6.0, 4.0), "dotted": (3.5, 1.5)}[dash]
            sx = x
            while sx < x + 26:  # the line as thin boxes (groups hold boxes and labels only)
                group.items.append(_Box(sx, mid - 0.75, min(seg, x + 26 - sx), 1.5, color, color, r=0, width=0,
                                        cls="sample"))
                sx += period
            if arrow:
                group.items.append(_Label(x + 25, mid + 3.5, "▶", 9.0, color, cls="sample"))
            group.items.append(_Label(x + 40, mid + 4, label, 11.0, INK))
        elif what in ("step", "operator", "recovery-box"):
            fill, stroke, dash = NODE_STYLE["recovery" if what == "recovery-box" else what]
            group.items.append(_Box(x, mid - 7, 22, 14, fill, stroke, dash, r=4, width=1.2, cls="sample"))
            group.items.append(_Label(x + 28, mid + 4, label, 11.0, INK))
        else:
            group.items.extend(_badge(x, mid - BADGE_H / 2, _badge_w(label), what, label))
        used_w = max(used_w, x + w - x0)
        x += w + 18
    width = used_w + 10
    height = y + row_h - y0
    group.items.insert(0, _Box(x0, y0, width, height, "#fbfbfc", "#cfd8dc", r=6, width=1.0, cls="legend-frame"))
    return group, width, height


# ---------------------------------------------------------------------------------------
# SVG.


def _f(value: float) -> str:
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _attr(value: str) -> str:
    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


_DASH_SVG = {"dashed": "6 4", "dotted": "1.5 3.5"}


def _svg_path(cmds: Sequence[Cmd]) -> str:
    return " ".join(op + " ".join(_f(v) for v in args) for op, args in cmds)


def _svg_item(item: _Box | _Label) -> str:
    if isinstance(item, _Box):
        parts = [f'<rect class={_attr(item.cls)}' if item.cls else "<rect",
                 f'x="{_f(item.x)}" y="{_f(item.y)}" width="{_f(item.w)}" height="{_f(item.h)}"']
        if item.r:
            parts.append(f'rx="{_f(item.r)}"')
        parts.append(f'fill="{item.fill}"')
        if item.width:
            parts.append(f'stroke="{item.stroke}" stroke-width="{_f(item.width)}"')
        else:
            parts.append('stroke="none"')
        if item.dash:
            parts.append(f'stroke-dasharray="{_DASH_SVG[item.dash]}"')
        return " ".join(parts) + "/>"
    parts = ["<text" + (f" class={_attr(item.cls)}" if item.cls else ""),
             f'x="{_f(item.x)}" y="{_f(item.y)}" font-size="{_f(item.size)}" fill="{item.color}"']
    if item.bold:
        parts.append('font-weight="bold"')
    if item.anchor != "start":
        parts.append(f'text-anchor="{item.anchor}"')
    return " ".join(parts) + ">" + escape(item.text) + "</text>"


def _svg(scene: _Scene) -> bytes:
    w, h = _f(scene.width), _f(scene.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cellwright-workflow" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family={_attr(FONT)}>',
        f"<title>{escape(scene.title)}</title>",
    ]
    if scene.description:
        out.append(f"<desc>{escape(scene.description)}</desc>")
    out.append("<defs>")
    for name, color in (("need", EDGE_NEED), ("recovery", EDGE_RECOVERY)):
        out.append(f'<marker id="arrow-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
                   f'markerWidth="{_f(ARROW_LEN)}" markerHeight="{_f(ARROW_HALF * 2)}" orient="auto">'
                   f'<path d="M0 0 L10 5 L0 10 z" fill="{color}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>')

    def group(g: _Group) -> None:
        attrs = f"<g class={_attr(g.cls)}" + "".join(f" data-{k}={_attr(v)}" for k, v in g.data) + ">"
        out.append(attrs)
        if g.tooltip:
            out.append(f"<title>{escape(g.tooltip)}</title>")
        out.extend(_svg_item(item) for item in g.items)
        out.append("</g>")

    title, *rest = scene.groups
    group(title)
    out.append('<g class="edges" fill="none">')
    for e in scene.edges:
        parts = [f"<path class={_attr(e.cls)}", *(f"data-{k}={_attr(v)}" for k, v in e.data),
                 f'd="{_svg_path(e.cmds)}" stroke="{e.color}" stroke-width="{_f(e.width)}"']
        if e.dash:
            parts.append(f'stroke-dasharray="{_DASH_SVG[e.dash]}"')
            if e.dash == "dotted":
                parts.append('stroke-linecap="round"')
        if e.arrow:
            parts.append(f'marker-end="url(#arrow-{"recovery" if "recovery" in e.cls else "need"})"')
        out.append(" ".join(parts) + "/>")
    out.append("</g>")
    out.append('<g class="nodes">')
    for g in rest[:-1]:
        group(g)
    out.append("</g>")
    group(rest[-1])
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------
# PNG (matplotlib, imported only here).


def _png(scene: _Scene) -> bytes:
    try:
        figure_mod: Any = importlib.import_module("matplotlib.figure")
        agg: Any = importlib.import_module("matplotlib.backends.backend_agg")
        patches: Any = importlib.import_module("matplotlib.patches")
        mpath: Any = importlib.import_module("matplotlib.path")
    except ImportError as exc:
        raise RuntimeError(PNG_HINT) from exc

    pt = 72.0 / 100.0  # px -> points at 100 dpi
    fig = figure_mod.Figure(figsize=(scene.width / 100.0, scene.height / 100.0), dpi=100, facecolor="#ffffff")
    agg.FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.set_axis_off()
    dashes = {"": "solid", "dashed": (0, (4, 3)), "dotted": (0, (1, 2.5))}
    z = 1.0

    def draw(item: _Box | _Label) -> None:
        nonlocal z
        z += 0.001
        if isinstance(item, _Box):
            style = f"round,pad=0,rounding_size={min(item.r, item.w / 2, item.h / 2)}" if item.r else "square,pad=0"
            ax.add_patch(patches.FancyBboxPatch(
                (item.x, item.y), item.w, item.h, boxstyle=style, facecolor=item.fill,
                edgecolor=item.stroke if item.width else "none", linewidth=item.width * pt,
                linestyle=dashes[item.dash], zorder=z))
        else:
            ax.text(item.x, item.y, item.text, fontsize=item.size * pt, color=item.color,
                    fontweight="bold" if item.bold else "normal", ha="center" if item.anchor == "middle" else "left",
                    va="baseline", family="DejaVu Sans", parse_math=False, zorder=z)

    title, *rest = scene.groups
    for item in title.items:
        draw(item)
    for e in scene.edges:
        verts: list[tuple[float, float]] = []
        codes: list[int] = []
        for op, args in e.cmds:
            if op == "C":
                verts += [(args[0], args[1]), (args[2], args[3]), (args[4], args[5])]
                codes += [mpath.Path.CURVE4] * 3
            else:
                verts.append((args[0], args[1]))
                codes.append(mpath.Path.MOVETO if op == "M" else mpath.Path.LINETO)
        z += 0.001
        ax.add_patch(patches.PathPatch(mpath.Path(verts, codes), fill=False, edgecolor=e.color,
                                       linewidth=e.width * pt, linestyle=dashes[e.dash], capstyle="round", zorder=z))
        if e.arrow and len(verts) >= 2:
            (x0, y0), (x1, y1) = verts[-2], verts[-1]
            d = math.hypot(x1 - x0, y1 - y0) or 1.0
            ux, uy = (x1 - x0) / d, (y1 - y0) / d
            bx, by = x1 - ux * ARROW_LEN, y1 - uy * ARROW_LEN
            tri = [(x1, y1), (bx - uy * ARROW_HALF, by + ux * ARROW_HALF), (bx + uy * ARROW_HALF, by - ux * ARROW_HALF)]
            ax.add_patch(patches.Polygon(tri, closed=True, facecolor=e.color, edgecolor="none", zorder=z))
    for g in rest:
        for item in g.items:
            draw(item)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, facecolor="#ffffff", metadata={"Software": None})
    return buf.getvalue()
