"""Cellwright expressions v1: the small, safe language inside a workflow's `${...}`.

Examples: ``${params.part}``, ``${steps.kit.result.tray}``,
``${params.count > 1 and params.mode in ['fast', 'safe']}``.

Grammar (EBNF; whitespace between tokens is ignored)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand]
                  (* non-associative: "a < b < c" is an error *)
    operand    := literal | path | "(" expr ")" | "[" [expr ("," expr)*] "]"
    path       := NAME ("." NAME | "[" INTEGER "]")*
    literal    := NUMBER | STRING | "true" | "false" | "null"
    NUMBER     := ["-"] DIGIT+ ["." DIGIT+] [("e" | "E") ["+" | "-"] DIGIT+]
    INTEGER    := DIGIT+
    STRING     := "'" ... "'" | '"' ... '"'   (* escapes: \\\\ \\' \\" and nothing else *)
    NAME       := [A-Za-z_][A-Za-z0-9_]*      (* not a keyword: and or not in true false null *)

There are no function calls and no arithmetic; a leading "-" belongs to a number literal.
Texts longer than 1000 characters, or nested (parentheses, lists, `not`) deeper than 32
levels, are refused. Nothing here uses eval/exec/compile: a hand-written tokenizer and
recursive-descent parser build an AST of frozen dataclasses, which `Expr.infer` checks
against JSON-schema-like types and `Expr.evaluate` runs over JSON-like values.

Semantics: `and`/`or`/`not` take and give booleans (short-circuit); integers and floats
compare numerically; booleans are not numbers (`true == 1` is false, `true < 1` an error);
`==` between different kinds is false; `<` `<=` `>` `>=` need two numbers or two strings;
`x in y`: membership in an array, substring of a string, or key of an object.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_LENGTH = 1000
MAX_DEPTH = 32

BoolOpName = Literal["and", "or"]
CompareOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
_ORDERING = ("<", "<=", ">", ">=")
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_SPACE = " \t\r\n"
_KINDS = frozenset({"string", "number", "integer", "boolean", "array", "object", "null", "any"})
_NUMERIC = frozenset({"number", "integer"})
_SCALARS = frozenset({"string", "number", "integer", "boolean", "any"})
_CHAR_HINTS = {
    "=": "use '==' to compare",
    "!": "use 'not' to negate, or '!=' to compare",
    "&": "use 'and'",
    "|": "use 'or'",
    "-": "there is no arithmetic; '-' only starts a negative number like -2",
    "+": "there is no arithmetic in expressions",
    "*": "there is no arithmetic in expressions",
    "/": "there is no arithmetic in expressions",
    "%": "there is no arithmetic in expressions",
    "$": "write the path directly inside one '${...}', e.g. ${params.part}",
    "{": "object literals are not supported",
    "}": "object literals are not supported",
}


class ExprError(ValueError):
    """An expression is wrong. `offset` = 0-based character offset inside the expression text
    where the problem is; `message` what; `hint` how to fix (may be "")."""

    def __init__(self, message: str, offset: int = 0, hint: str = "") -> None:
        super().__init__(message, offset, hint)
        self.message = message
        self.offset = offset
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.message} (at offset {self.offset})"
        return f"{text}; {self.hint}" if self.hint else text

    def shifted(self, delta: int) -> ExprError:
        """The same error with its offset moved by `delta` (an expression inside a template)."""
        return ExprError(self.message, self.offset + delta, self.hint)


# --- AST --------------------------------------------------------------------------------
# Offsets do not take part in equality: two trees parsed from differently spaced texts are
# equal when they mean the same.


@dataclass(frozen=True)
class Const:
    """A literal: string, integer, float, boolean or None (null)."""

    value: str | int | float | bool | None
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PathRef:
    """A path: the root name, then field names (str) and indexes (int)."""

    parts: tuple[str | int, ...]
    offsets: tuple[int, ...] = field(default=(), compare=False)  # one per part
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class ListLit:
    """A list literal `[a, b, ...]`."""

    items: tuple[Node, ...]
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    """`not operand`."""

    operand: Node
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BoolOp:
    """`a and b and ...` or `a or b or ...` (two or more operands)."""

    op: BoolOpName
    operands: tuple[Node, ...]
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Compare:
    """`left op right`; `op_offset` is where the operator is."""

    op: CompareOp
    left: Node
    right: Node
    offset: int = field(default=0, compare=False)
    op_offset: int = field(default=0, compare=False)


Node = Const | PathRef | ListLit | Not | BoolOp | Compare


# --- tokenizer --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: Literal["num", "str", "name", "kw", "op", "end"]
    value: Any
    offset: int
    end: int


def _is_name_start(c: str) -> bool:
    return c == "_" or "a" <= c <= "z" or "A" <= c <= "Z"


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _is_name_char(c: str) -> bool:
    return _is_name_start(c) or _is_digit(c)


def _digits(text: str, i: int) -> int:
    while i < len(text) and _is_digit(text[i]):
        i += 1
    return i


def _number(text: str, start: int) -> tuple[int, int | float]:
    n = len(text)
    i = _digits(text, start + 1 if text[start] == "-" else start)
    is_float = False
    if i + 1 < n and text[i] == "." and _is_digit(text[i + 1]):
        is_float, i = True, _digits(text, i + 1)
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and _is_digit(text[j]):
            is_float, i = True, _digits(text, j)
    if i < n and (_is_name_char(text[i]) or text[i] == "."):
        j = i
        while j < n and (_is_name_char(text[j]) or text[j] == "."):
            j += 1
        raise ExprError(f"malformed number {text[start:j]!r}", start, "numbers look like 3, -2, 0.5 or 1e-3")
    if not is_float:
        return i, int(text[start:i])
    value = float(text[start:i])
    if value in (float("inf"), float("-inf")):
        raise ExprError(f"number {text[start:i]!r} is out of range", start)
    return i, value


def _string(text: str, start: int) -> tuple[int, str]:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            if text[i + 1] not in "\\'\"":
                raise ExprError(f"unknown escape '{text[i:i + 2]}' in a string", i,
                                "the only escapes are \\\\, \\' and \\\"")
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            return i + 1, "".join(out)
        out.append(c)
        i += 1
    raise ExprError("unterminated string", start, f"close it with {quote}")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        start = i
        if c in _SPACE:
            i += 1
            continue
        if _is_digit(c) or (c == "-" and i + 1 < n and _is_digit(text[i + 1])):
            i, number = _number(text, i)
            tokens.append(_Token("num", number, start, i))
        elif c in "'\"":
            i, string = _string(text, i)
            tokens.append(_Token("str", string, start, i))
        elif _is_name_start(c):
            while i < n and _is_name_char(text[i]):
                i += 1
            word = text[start:i]
            tokens.append(_Token("kw" if word in _KEYWORDS else "name", word, start, i))
        elif text.startswith(("==", "!=", "<=", ">="), i):
            i += 2
            tokens.append(_Token("op", text[start:i], start, i))
        elif c in "<>()[],.":
            i += 1
            tokens.append(_Token("op", c, start, i))
        else:
            raise ExprError(f"unexpected character {c!r}", i, _CHAR_HINTS.get(c, ""))
    tokens.append(_Token("end", None, n, n))
    return tokens


# --- parser -----------------------------------------------------------------------------

_VALUE_HINT = "a value is a number, a 'string', true, false, null, a path like params.part, a [list] or a (condition)"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def show(self, token: _Token) -> str:
        if token.kind == "end":
            return "the end of the expression"
        source = self.text[token.offset:token.end]
        return repr(source if len(source) <= 20 else source[:17] + "...")

    @staticmethod
    def is_op(token: _Token, value: str) -> bool:
        return token.kind == "op" and token.value == value

    def enter(self, offset: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", offset,
                            "split it into simpler conditions")

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExprError("empty expression", 0, "write a value, a path like params.part, or a condition")
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise ExprError(f"unexpected {self.show(token)} after a complete expression", token.offset,
                            "join conditions with 'and' or 'or'")
        return node

    def expr(self) -> Node:
        return self.bool_op("or")

    def bool_op(self, op: BoolOpName) -> Node:
        start = self.peek().offset
        operands = [self.bool_op("and") if op == "or" else self.not_expr()]
        while self.peek().kind == "kw" and self.peek().value == op:
            self.take()
            operands.append(self.bool_op("and") if op == "or" else self.not_expr())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands), start)

    def not_expr(self) -> Node:
        token = self.peek()
        if token.kind == "kw" and token.value == "not":
            self.take()
            self.enter(token.offset)
            operand = self.not_expr()
            self.depth -= 1
            return Not(operand, token.offset)
        return self.comparison()

    def compare_op(self) -> tuple[CompareOp, int] | None:
        token = self.peek()
        if token.kind == "op" and token.value in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            return token.value, token.offset
        if token.kind == "kw" and token.value == "in":
            self.take()
            return "in", token.offset
        following = self.peek(1)
        if token.kind == "kw" and token.value == "not" and following.kind == "kw" and following.value == "in":
            self.take()
            self.take()
            return "not in", token.offset
        return None

    def comparison(self) -> Node:
        start = self.peek().offset
        left = self.operand()
        found = self.compare_op()
        if found is None:
            return left
        op, op_offset = found
        right = self.operand()
        following = self.peek()
        if self.compare_op() is not None:
            raise ExprError("comparisons cannot be chained", following.offset, "write 'a < b and b < c'")
        return Compare(op, left, right, start, op_offset)

    def operand(self) -> Node:
        token = self.peek()
        if token.kind in ("num", "str"):
            self.take()
            return Const(token.value, token.offset)
        if token.kind == "kw" and token.value in ("true", "false", "null"):
            self.take()
            return Const({"true": True, "false": False, "null": None}[token.value], token.offset)
        if token.kind == "name":
            return self.path()
        if self.is_op(token, "("):
            self.take()
            self.enter(token.offset)
            node = self.expr()
            self.expect(")", token)
            self.depth -= 1
            return node
        if self.is_op(token, "["):
            self.take()
            self.enter(token.offset)
            items: list[Node] = []
            if self.is_op(self.peek(), "]"):
                self.take()
            else:
                items.append(self.expr())
                while self.is_op(self.peek(), ","):
                    self.take()
                    items.append(self.expr())
                self.expect("]", token, "',' or ']'")
            self.depth -= 1
            return ListLit(tuple(items), token.offset)
        hint = "put 'not ...' in parentheses" if token.kind == "kw" and token.value == "not" else _VALUE_HINT
        raise ExprError(f"expected a value, got {self.show(token)}", token.offset, hint)

    def expect(self, closer: str, opener: _Token, expected: str = "") -> None:
        token = self.peek()
        if self.is_op(token, closer):
            self.take()
            return
        expected = expected or repr(closer)
        raise ExprError(f"expected {expected}, got {self.show(token)}", token.offset,
                        f"the {opener.value!r} at offset {opener.offset} is not closed")

    def path(self) -> PathRef:
        root = self.take()
        parts: list[str | int] = [root.value]
        offsets = [root.offset]
        while True:
            token = self.peek()
            if self.is_op(token, "."):
                self.take()
                name = self.take()
                if name.kind != "name":
                    hint = (f"{name.value!r} is a keyword, not a field name" if name.kind == "kw"
                            else "use [0] to pick an item of an array" if name.kind == "num"
                            else "")
                    raise ExprError(f"expected a field name after '.', got {self.show(name)}", name.offset, hint)
                parts.append(name.value)
                offsets.append(name.offset)
            elif self.is_op(token, "["):
                self.take()
                index = self.take()
                if index.kind != "num" or not isinstance(index.value, int):
                    raise ExprError(f"expected an integer index, got {self.show(index)}", index.offset,
                                    "indexes are whole numbers written out, like [0]")
                if index.value < 0:
                    raise ExprError("an index cannot be negative", index.offset, "indexes count from 0")
                self.expect("]", token)
                parts.append(index.value)
                offsets.append(index.offset)
            elif self.is_op(token, "("):
                raise ExprError("function calls are not allowed", token.offset,
                                "expressions have no functions; compare values with ==, <, in, ...")
            else:
                return PathRef(tuple(parts), tuple(offsets), root.offset)


# --- shared helpers ---------------------------------------------------------------------


def _a(kind: str) -> str:
    """'a string', 'an integer', ... for messages."""
    if kind == "null":
        return "null"
    if kind == "any":
        return "a value of any type"
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _kind_of(value: Any) -> str:
    """The JSON kind of a run-time value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _show_list(values: Iterable[Any], limit: int = 20) -> str:
    shown = [_show(v) for v in values]
    more = f", ... ({len(shown) - limit} more)" if len(shown) > limit else ""
    return "[" + ", ".join(shown[:limit]) + more + "]"


def _show_keys(mapping: Mapping[Any, Any]) -> str:
    return _show_list(sorted(str(k) for k in mapping))


def _did_you_mean(word: str, options: Mapping[Any, Any] | Sequence[Any]) -> str:
    close = difflib.get_close_matches(word, [str(o) for o in options], n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _names_hint(name: str, known: Mapping[str, Any]) -> str:
    hint = f"known names: {_show_keys(known)}"
    guess = _did_you_mean(name, known)
    return f"{hint}; {guess}" if guess else hint


def _path_text(parts: Sequence[str | int]) -> str:
    return str(parts[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts[1:])


def _part_offset(node: PathRef, i: int) -> int:
    return node.offsets[i] if i < len(node.offsets) else node.offset


def _no_field(where: str, kind: str, name: str, offset: int) -> ExprError:
    hint = "use [0] to pick an item" if kind == "array" else ""
    return ExprError(f"{where} is {_a(kind)}, not an object, so it has no field {name!r}", offset, hint)


def _no_index(where: str, kind: str, index: int, offset: int) -> ExprError:
    hint = "use .name to read a field" if kind == "object" else ""
    return ExprError(f"{where} is {_a(kind)}, not an array, so it has no index {index}", offset, hint)


_BOOL_HINT = "compare it to get a boolean, e.g. params.part == 'red' or params.part != null"


# --- evaluation -------------------------------------------------------------------------


def _eq(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value, booleans are not numbers, containers deeply."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_num(a) or _is_num(b):
        return _is_num(a) and _is_num(b) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and set(a) == set(b)
                and all(_eq(a[k], b[k]) for k in a))
    if isinstance(a, list | tuple) or isinstance(b, list | tuple):
        return (isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b)
                and all(_eq(x, y) for x, y in zip(a, b, strict=True)))
    return bool(a == b)


def _lookup(node: PathRef, env: Mapping[str, Any]) -> Any:
    root = node.parts[0]
    if not isinstance(root, str) or root not in env:
        raise ExprError(f"unknown name {root!r}", node.offset, _names_hint(str(root), env))
    value = env[root]
    for i, part in enumerate(node.parts[1:], 1):
        where, offset = _path_text(node.parts[:i]), _part_offset(node, i)
        if isinstance(part, str):
            if not isinstance(value, Mapping):
                raise _no_field(where, _kind_of(value), part, offset)
            if part not in value:
                raise ExprError(f"{where} has no field {part!r}; it has {_show_keys(value)}", offset,
                                _did_you_mean(part, value))
            value = value[part]
        else:
            if not isinstance(value, list | tuple):
                raise _no_index(where, _kind_of(value), part, offset)
            if part >= len(value):
                items = "item" if len(value) == 1 else "items"
                raise ExprError(f"{where} has no index {part}; it has {len(value)} {items}", offset)
            value = value[part]
    return value


def _truth(value: Any, operand: Node, op: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ExprError(f"'{op}' needs a boolean, got {_a(_kind_of(value))}", operand.offset, _BOOL_HINT)


def _compare(node: Compare, left: Any, right: Any) -> bool:
    op = node.op
    if op == "==":
        return _eq(left, right)
    if op == "!=":
        return not _eq(left, right)
    if op in _ORDERING:
        if not ((_is_num(left) and _is_num(right)) or (isinstance(left, str) and isinstance(right, str))):
            raise ExprError(f"cannot compare {_a(_kind_of(left))} {op} {_a(_kind_of(right))}", node.op_offset,
                            f"'{op}' needs two numbers or two strings")
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    found: bool
    if isinstance(right, list | tuple):
        found = any(_eq(left, item) for item in right)
    elif isinstance(right, str | Mapping):
        if not isinstance(left, str):
            where = "in a string" if isinstance(right, str) else "among the keys of an object"
            raise ExprError(f"cannot look for {_a(_kind_of(left))} {where}", node.op_offset,
                            "the left side of 'in' must be a string here")
        found = left in right
    else:
        raise ExprError(f"'{op}' needs an array, a string or an object on the right, got {_a(_kind_of(right))}",
                        node.right.offset)
    return found if op == "in" else not found


def _evaluate(node: Node, env: Mapping[str, Any]) -> Any:
    if isinstance(node, Const):
        return node.value
    if isinstance(node, PathRef):
        return _lookup(node, env)
    if isinstance(node, ListLit):
        return [_evaluate(item, env) for item in node.items]
    if isinstance(node, Not):
        return not _truth(_evaluate(node.operand, env), node.operand, "not")
    if isinstance(node, BoolOp):
        decisive = node.op == "or"  # the value that ends the chain early
        for operand in node.operands:
            if _truth(_evaluate(operand, env), operand, node.op) is decisive:
                return decisive
        return not decisive
    return _compare(node, _evaluate(node.left, env), _evaluate(node.right, env))


# --- static types -----------------------------------------------------------------------


def _any() -> dict[str, Any]:
    return {"type": "any"}


def _kind(schema: Any) -> str:
    """The kind a schema describes; "any" when it says nothing usable."""
    if not isinstance(schema, Mapping):
        return "any"
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind if kind in _KINDS else "any"
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and "items" in schema:
        return "array"
    return "any"


def _compatible(a: str, b: str) -> bool:
    """Could a value of kind `a` equal one of kind `b`?"""
    return "any" in (a, b) or "null" in (a, b) or a == b or (a in _NUMERIC and b in _NUMERIC)


def _check_enum(node: Node, schema: Mapping[str, Any]) -> None:
    """A literal compared with an enum-typed value must be one of the enum's values."""
    enum = schema.get("enum")
    if not isinstance(node, Const) or node.value is None or not isinstance(enum, list | tuple):
        return
    if not any(_eq(node.value, option) for option in enum):
        guess = _did_you_mean(node.value, [e for e in enum if isinstance(e, str)]) \
            if isinstance(node.value, str) else ""
        raise ExprError(f"{_show(node.value)} is not one of {_show_list(enum)}", node.offset, guess)


def _infer_path(node: PathRef, types: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    root = node.parts[0]
    if not isinstance(root, str) or root not in types:
        raise ExprError(f"unknown name {root!r}", node.offset, _names_hint(str(root), types))
    schema: Any = types[root]
    for i, part in enumerate(node.parts[1:], 1):
        kind = _kind(schema)
        if kind == "any":
            return _any()
        where, offset = _path_text(node.parts[:i]), _part_offset(node, i)
        if isinstance(part, int):
            if kind != "array":
                raise _no_index(where, kind, part, offset)
            schema = schema.get("items", _any())
            continue
        if kind != "object":
            raise _no_field(where, kind, part, offset)
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        if isinstance(properties, Mapping) and part in properties:
            schema = properties[part]
        elif isinstance(extra, Mapping):
            schema = extra
        elif not isinstance(properties, Mapping) or extra is True:
            return _any()  # an open object
        else:
            raise ExprError(f"{where} has no field {part!r}; it has {_show_keys(properties)}", offset,
                            _did_you_mean(part, properties))
    return schema if isinstance(schema, Mapping) else _any()


def _join(schemas: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The item type of a list literal."""
    kinds = {_kind(s) for s in schemas}
    if not kinds:
        return _any()
    if all(s == schemas[0] for s in schemas):
        return schemas[0]
    if len(kinds) == 1:
        return {"type": kinds.pop()}
    if kinds <= _NUMERIC:
        return {"type": "number"}
    return _any()


def _infer_in(node: Compare, left: Mapping[str, Any], right: Mapping[str, Any]) -> None:
    lk, rk = _kind(left), _kind(right)
    if rk == "array":
        items = right.get("items", _any())
        items = items if isinstance(items, Mapping) else _any()
        ik = _kind(items)
        if not _compatible(lk, ik):
            raise ExprError(f"cannot look for {_a(lk)} in an array of {ik} items", node.op_offset,
                            "they are never equal")
        if isinstance(node.right, ListLit):
            for item in node.right.items:
                _check_enum(item, left)
        _check_enum(node.left, items)
    elif rk in ("string", "object"):
        if lk not in ("string", "any"):
            where = "in a string" if rk == "string" else "among the keys of an object"
            raise ExprError(f"cannot look for {_a(lk)} {where}", node.op_offset,
                            "the left side of 'in' must be a string here")
    elif rk != "any":
        raise ExprError(f"'{node.op}' needs an array, a string or an object on the right, got {_a(rk)}",
                        node.right.offset)


def _infer(node: Node, types: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    if isinstance(node, Const):
        return {"type": "null" if node.value is None else _kind_of(node.value)}
    if isinstance(node, PathRef):
        return _infer_path(node, types)
    if isinstance(node, ListLit):
        return {"type": "array", "items": _join([_infer(item, types) for item in node.items])}
    if isinstance(node, Not | BoolOp):
        operands = (node.operand,) if isinstance(node, Not) else node.operands
        op = "not" if isinstance(node, Not) else node.op
        for operand in operands:
            kind = _kind(_infer(operand, types))
            if kind not in ("boolean", "any"):
                raise ExprError(f"'{op}' needs a boolean, got {_a(kind)}", operand.offset, _BOOL_HINT)
        return {"type": "boolean"}
    left, right = _infer(node.left, types), _infer(node.right, types)
    lk, rk = _kind(left), _kind(right)
    if node.op in _ORDERING:
        orderable = ("number", "integer", "string", "any")
        if lk not in orderable or rk not in orderable or not _compatible(lk, rk) or "null" in (lk, rk):
            raise ExprError(f"cannot compare {_a(lk)} {node.op} {_a(rk)}", node.op_offset,
                            f"'{node.op}' needs two numbers or two strings")
    elif node.op in ("==", "!="):
        if not _compatible(lk, rk):
            raise ExprError(f"cannot compare {_a(lk)} {node.op} {_a(rk)}", node.op_offset,
                            "they are never equal")
        _check_enum(node.right, left)
        _check_enum(node.left, right)
    else:
        _infer_in(node, left, right)
    return {"type": "boolean"}


def _walk_paths(node: Node) -> Iterator[PathRef]:
    if isinstance(node, PathRef):
        yield node
    elif isinstance(node, ListLit):
        for item in node.items:
            yield from _walk_paths(item)
    elif isinstance(node, Not):
        yield from _walk_paths(node.operand)
    elif isinstance(node, BoolOp):
        for operand in node.operands:
            yield from _walk_paths(operand)
    elif isinstance(node, Compare):
        yield from _walk_paths(node.left)
        yield from _walk_paths(node.right)


# --- public API -------------------------------------------------------------------------


@dataclass(frozen=True)
class Expr:
    """A parsed expression: its text and the root of its AST."""

    text: str
    node: Node

    def paths(self) -> list[tuple[tuple[str | int, ...], int]]:
        """Every path used, in text order, with its offset: [(("steps", "kit", "result"), 2), ...]."""
        return [(path.parts, path.offset) for path in _walk_paths(self.node)]

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """The value over `env` (root name -> JSON-like value); ExprError when it has none."""
        return _evaluate(self.node, env)

    def infer(self, types: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
        """The static type (a JSON-schema-like dict), given each root name's schema; ExprError
        when the expression cannot be right for values of those types."""
        return _infer(self.node, types)


def parse(text: str) -> Expr:
    """Parse one expression (the text inside `${...}`); ExprError with the offset if wrong."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is too long ({len(text)} characters; the limit is {MAX_LENGTH})",
                        MAX_LENGTH, "split it, or compute the value in a step")
    return Expr(text, _Parser(text).parse())


def _closing_brace(text: str, start: int) -> tuple[int, str | None]:
    """Index of the '}' ending an expression that starts at `start` (-1 if none), and the
    quote still open at the end of the text when there is none."""
    quote: str | None = None
    i = start
    while i < len(text):
        c = text[i]
        if quote is not None:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "}":
            return i, None
        i += 1
    return -1, quote


def _as_text(value: Any, offset: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_num(value):
        return repr(value)
    raise ExprError(f"cannot put {_a(_kind_of(value))} into text", offset,
                    "pick a field or an item of it, or make the whole value one '${...}'")


@dataclass(frozen=True)
class Template:
    """A string value from a workflow: either exactly one `${expr}` (whole=True: the value
    keeps the expression's type, e.g. a list or number) or text with zero or more `${expr}`
    pieces interpolated as strings."""

    text: str
    parts: tuple[str | Expr, ...]
    whole: bool

    def expressions(self) -> list[tuple[Expr, int]]:
        """Each expression with the offset in `text` of its first character (after "${")."""
        found: list[tuple[Expr, int]] = []
        position = 0
        for part in self.parts:
            if isinstance(part, str):
                position += len(part)
            else:
                found.append((part, position + 2))
                position += len(part.text) + 3
        return found

    def render(self, env: Mapping[str, Any]) -> Any:
        """The value: the expression's own value when whole, else the text with each
        expression's (scalar) value put in. Error offsets are relative to `text`."""
        values: dict[int, Any] = {}
        for expr, start in self.expressions():
            try:
                values[start] = expr.evaluate(env)
            except ExprError as error:
                raise error.shifted(start) from None
        if self.whole:
            return next(iter(values.values()))
        out: list[str] = []
        position = 0
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                position += len(part)
            else:
                out.append(_as_text(values[position + 2], position + 2))
                position += len(part.text) + 3
        return "".join(out)

    def infer(self, types: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
        """Whole: the expression's type; else {"type": "string"}, and every interpolated
        expression must be a string, number, integer or boolean."""
        for expr, start in self.expressions():
            try:
                schema = expr.infer(types)
            except ExprError as error:
                raise error.shifted(start) from None
            if self.whole:
                return schema
            kind = _kind(schema)
            if kind not in _SCALARS:
                raise ExprError(f"cannot put {_a(kind)} into text", start,
                                "pick a field or an item of it, or make the whole value one '${...}'")
        return {"type": "string"}


def parse_template(text: str) -> Template:
    """Split a workflow string into text and `${...}` expressions; ExprError (offset in `text`)
    for an unclosed "${", an empty "${}" or a wrong expression."""
    parts: list[str | Expr] = []
    position = 0
    while (start := text.find("${", position)) >= 0:
        end, open_quote = _closing_brace(text, start + 2)
        if end < 0:
            hint = f"a string inside it is not closed ({open_quote})" if open_quote else "end it with '}'"
            raise ExprError("unclosed '${'", start, hint)
        inner = text[start + 2:end]
        if not inner.strip(" \t\r\n"):
            raise ExprError("empty expression in '${}'", start, "put an expression between the braces, "
                            "e.g. ${params.part}")
        try:
            expr = parse(inner)
        except ExprError as error:
            raise error.shifted(start + 2) from None
        if start > position:
            parts.append(text[position:start])
        parts.append(expr)
        position = end + 1
    if position < len(text):
        parts.append(text[position:])
    whole = len(parts) == 1 and isinstance(parts[0], Expr)
    return Template(text, tuple(parts), whole)


def is_template(value: Any) -> bool:
    """True for a str containing "${" (a value `parse_template` has work to do on)."""
    return isinstance(value, str) and "${" in value
