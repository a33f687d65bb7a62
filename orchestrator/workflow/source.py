"""YAML with positions: plain Python values plus, for every path into them, where the
node (and, for a mapping entry, its key) starts in the text, so that every problem a
validator finds can name file:line:column.

`compose(text)` uses PyYAML's SafeLoader composer. Mapping keys are kept as the text
written (`on:` is the key "on", not True); a key given twice, a key that is not a scalar
and a YAML syntax error are `SourceProblem`s (the first one found ends the parse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]
"""Keys and list indexes from the document's root to a node, e.g. ("steps", 1, "with")."""


@dataclass(frozen=True)
class SourceProblem(Exception):
    """The text is not YAML this module accepts; line and column are 1-based."""

    message: str
    line: int
    column: int
    code: str = "yaml"  # or "duplicate"
    hint: str = ""


@dataclass
class Source:
    """A parsed document: `data` and where each of its nodes starts."""

    data: Any
    text: str
    nodes: dict[Path, yaml.Node] = field(default_factory=dict)
    keys: dict[Path, yaml.Node] = field(default_factory=dict)  # path of the value -> its key node

    def position(self, path: Path) -> tuple[int, int]:
        """(line, column), 1-based, of the node at `path` or of its nearest ancestor."""
        path = tuple(path)
        while path not in self.nodes and path:
            path = path[:-1]
        node = self.nodes.get(path)
        return (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)

    def key_position(self, path: Path) -> tuple[int, int]:
        """Where the key of the mapping entry at `path` starts (the node's own position if
        `path` is not a mapping entry)."""
        node = self.keys.get(tuple(path))
        return (node.start_mark.line + 1, node.start_mark.column + 1) if node else self.position(path)

    def char_position(self, path: Path, offset: int) -> tuple[int, int]:
        """Where the `offset`-th character of the string at `path` is in the text: exact for
        single-line plain and quoted scalars and for literal block scalars (`|`); the
        scalar's start otherwise."""
        node = self.nodes.get(tuple(path))
        if not isinstance(node, yaml.ScalarNode):
            return self.position(path)
        start, end = node.start_mark, node.end_mark
        value: str = node.value
        offset = max(0, min(offset, len(value)))
        if node.style == "|":
            lines = self.text.splitlines()
            first = lines[start.line + 1] if start.line + 1 < len(lines) else ""  # content starts below `|`
            indent = len(first) - len(first.lstrip(" "))
            return (start.line + 2 + value.count("\n", 0, offset),
                    indent + offset - (value.rfind("\n", 0, offset) + 1) + 1)
        if start.line != end.line or node.style not in (None, "'", '"'):
            return start.line + 1, start.column + 1
        raw = self.text[start.index:end.index]
        if node.style is None:
            return start.line + 1, start.column + 1 + offset
        column, i, produced = start.column + 1, 1, 0  # i: index in raw past the opening quote
        while produced < offset and i < len(raw) - 1:
            if node.style == "'" and raw.startswith("''", i):
                i += 2
            elif node.style == '"' and raw[i] == "\\":
                i += {"x": 4, "u": 6, "U": 10}.get(raw[i + 1:i + 2], 2)
            else:
                i += 1
            produced += 1
        return start.line + 1, column + i


def compose(text: str) -> Source:
    """Parse one YAML document (an empty text is None).

    Raises:
        SourceProblem: a syntax error, a duplicate or non-scalar key, or more than one document.
    """
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "not valid YAML"
            if "expected a single document" in str(exc.context):
                problem = "more than one YAML document; a workflow file holds one"
            raise SourceProblem(f"not valid YAML: {problem}", mark.line + 1 if mark else 1,
                                mark.column + 1 if mark else 1) from None
        except yaml.YAMLError as exc:
            raise SourceProblem(f"not valid YAML: {exc}", 1, 1) from None
        except (ValueError, OverflowError) as exc:  # PyYAML's scanner on a "\U..." past Unicode
            mark = loader.get_mark()
            raise SourceProblem(f"not valid YAML: an escape names no Unicode character ({exc})",
                                mark.line + 1, mark.column + 1) from None
        source = Source(None, text)
        if root is not None:
            source.data = _convert(loader, root, (), source)
        return source
    finally:
        loader.dispose()


MAX_NODES = 100_000  # aliases can make a short text a huge document


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path, source: Source,
             inside: tuple[yaml.Node, ...] = ()) -> Any:
    mark = node.start_mark
    if node in inside:
        raise SourceProblem("an alias refers to a node that contains it", mark.line + 1, mark.column + 1)
    if len(source.nodes) >= MAX_NODES:
        raise SourceProblem(f"the document has more than {MAX_NODES:,} values (with aliases expanded); "
                            "split the workflow", mark.line + 1, mark.column + 1)
    source.nodes[path] = node
    inside = (*inside, node)
    if isinstance(node, yaml.ScalarNode):
        try:
            return loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or node.start_mark
            raise SourceProblem(f"not valid YAML: {exc.problem}", mark.line + 1, mark.column + 1) from None
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), source, inside) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        try:
            loader.flatten_mapping(node)  # `<<: *anchor` merges
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or node.start_mark
            raise SourceProblem(f"not valid YAML: {exc.problem}", mark.line + 1, mark.column + 1) from None
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                mark = key_node.start_mark
                raise SourceProblem("a key must be a plain name, not a list or mapping",
                                    mark.line + 1, mark.column + 1, "type")
            key = str(key_node.value)
            if key in result:
                first = source.keys[(*path, key)].start_mark
                mark = key_node.start_mark
                raise SourceProblem(f"key `{key}` is given twice", mark.line + 1, mark.column + 1,
                                    "duplicate", f"first given at line {first.line + 1}; keep one")
            source.keys[(*path, key)] = key_node
            result[key] = _convert(loader, value_node, (*path, key), source, inside)
        return result
    raise SourceProblem(f"unexpected YAML node {node.tag}", node.start_mark.line + 1,
                        node.start_mark.column + 1)
