"""Cellwright expressions v1 (orchestrator.workflow.expressions): parsing, errors with their
offsets, static types, evaluation, templates, and property-based checks."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cellwright.orchestrator.workflow.expressions import (
    MAX_DEPTH,
    BoolOp,
    Compare,
    Const,
    Expr,
    ExprError,
    ListLit,
    Node,
    Not,
    PathRef,
    Template,
    is_template,
    parse,
    parse_template,
)


def P(*parts: str | int) -> PathRef:
    return PathRef(tuple(parts))


def C(value: Any) -> Const:
    return Const(value)


TYPES: dict[str, Mapping[str, Any]] = {
    "params": {
        "type": "object",
        "properties": {
            "part": {"type": "string", "enum": ["red", "green"]},
            "count": {"type": "integer"},
            "speed": {"type": "number"},
            "fast": {"type": "boolean"},
            "xs": {"type": "array", "items": {"type": "integer"}},
            "meta": {"type": "object"},
            "tags": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
        },
    },
    "steps": {"type": "object", "properties": {
        "kit": {"type": "object", "properties": {
            "result": {"type": "object", "properties": {"tray": {"type": "string"},
                                                        "slots": {"type": "array"}}}}}}},
    "item": {"type": "string"},
    "index": {"type": "integer"},
    "anything": {"type": "any"},
}

ENV: dict[str, Any] = {
    "params": {"part": "red", "count": 3, "speed": 0.5, "fast": True, "xs": [1, 2, 3],
               "meta": {"k": "v", "n": None}, "tags": {"a": "x"}},
    "steps": {"kit": {"result": {"tray": "t1", "slots": [[1, 2], [3]]}}},
    "item": "bolt",
    "index": 2,
}


def error_of(fn: Any, *args: Any) -> ExprError:
    with pytest.raises(ExprError) as caught:
        fn(*args)
    return caught.value


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "node"), [
    ("params.part", P("params", "part")),
    ("steps.kit.result.tray", P("steps", "kit", "result", "tray")),
    ("steps.kit.result.slots[0][1]", P("steps", "kit", "result", "slots", 0, 1)),
    ("x [ 3 ] . y", P("x", 3, "y")),
    ("_a1", P("_a1")),
    ("42", C(42)),
    ("-7", C(-7)),
    ("0.25", C(0.25)),
    ("-1.5e3", C(-1500.0)),
    ("2E-2", C(0.02)),
    ("'it\\'s'", C("it's")),
    ('"say \\"hi\\" \\\\ bye"', C('say "hi" \\ bye')),
    ("'a\"b'", C('a"b')),
    ("''", C("")),
    ("true", C(True)),
    ("false", C(False)),
    ("null", C(None)),
    ("[]", ListLit(())),
    ("[1, 'a', [null]]", ListLit((C(1), C("a"), ListLit((C(None),))))),
    ("a == b", Compare("==", P("a"), P("b"))),
    ("a!=-1", Compare("!=", P("a"), C(-1))),
    ("a <= 2", Compare("<=", P("a"), C(2))),
    ("a in [1, 2]", Compare("in", P("a"), ListLit((C(1), C(2))))),
    ("a not in b", Compare("not in", P("a"), P("b"))),
    ("truex", P("truex")),
    ("notin", P("notin")),
])
def test_parse(text: str, node: Node) -> None:
    expr = parse(text)
    assert expr.node == node
    assert expr.text == text


@pytest.mark.parametrize(("text", "node"), [
    ("a or b and c", BoolOp("or", (P("a"), BoolOp("and", (P("b"), P("c")))))),
    ("a and b or c", BoolOp("or", (BoolOp("and", (P("a"), P("b"))), P("c")))),
    ("(a or b) and c", BoolOp("and", (BoolOp("or", (P("a"), P("b"))), P("c")))),
    ("a or b or c", BoolOp("or", (P("a"), P("b"), P("c")))),
    ("not a and b", BoolOp("and", (Not(P("a")), P("b")))),
    ("not not a", Not(Not(P("a")))),
    ("not a == b", Not(Compare("==", P("a"), P("b")))),
    ("a == b and c != d", BoolOp("and", (Compare("==", P("a"), P("b")), Compare("!=", P("c"), P("d"))))),
    ("(a < b) == true", Compare("==", Compare("<", P("a"), P("b")), C(True))),
    ("a not in b or c", BoolOp("or", (Compare("not in", P("a"), P("b")), P("c")))),
    ("((a))", P("a")),
])
def test_precedence(text: str, node: Node) -> None:
    assert parse(text).node == node


def test_offsets_and_paths() -> None:
    expr = parse("params.count > 1 and steps.kit.result.slots[0] == [item]")
    assert expr.paths() == [(("params", "count"), 0), (("steps", "kit", "result", "slots", 0), 21),
                            (("item",), 51)]
    node = expr.node
    assert isinstance(node, BoolOp)
    left, right = node.operands
    assert isinstance(left, Compare) and (left.offset, left.op_offset) == (0, 13)
    assert isinstance(right, Compare) and (right.offset, right.op_offset) == (21, 47)
    assert isinstance(right.left, PathRef) and right.left.offsets == (21, 27, 31, 38, 44)
    assert isinstance(right.right, ListLit) and right.right.offset == 50
    assert parse("not (a)").node == Not(P("a"))
    assert parse("not (a)").paths() == [(("a",), 5)]


def test_offsets_are_ignored_by_equality() -> None:
    assert parse("a==1").node == parse("  a   ==   1 ").node
    assert parse("a==1") != parse("  a   ==   1 ")  # different text


# Golden parse errors: (text, message, offset, hint)
PARSE_ERRORS = [
    ("", "empty expression", 0, "write a value, a path like params.part, or a condition"),
    ("   ", "empty expression", 0, "write a value, a path like params.part, or a condition"),
    ("a = 1", "unexpected character '='", 2, "use '==' to compare"),
    ("a && b", "unexpected character '&'", 2, "use 'and'"),
    ("a || b", "unexpected character '|'", 2, "use 'or'"),
    ("!a", "unexpected character '!'", 0, "use 'not' to negate, or '!=' to compare"),
    ("a - 1", "unexpected character '-'", 2, "there is no arithmetic; '-' only starts a negative number like -2"),
    ("a + 1", "unexpected character '+'", 2, "there is no arithmetic in expressions"),
    ("${a}", "unexpected character '$'", 0, "write the path directly inside one '${...}', e.g. ${params.part}"),
    ("{}", "unexpected character '{'", 0, "object literals are not supported"),
    ("a é", "unexpected character 'é'", 2, ""),
    ("'abc", "unterminated string", 0, "close it with '"),
    ('x == "abc', "unterminated string", 5, 'close it with "'),
    ("'ab\\", "unterminated string", 0, "close it with '"),
    ("'a\\nb'", "unknown escape '\\n' in a string", 2, "the only escapes are \\\\, \\' and \\\""),
    ("1.5.3", "malformed number '1.5.3'", 0, "numbers look like 3, -2, 0.5 or 1e-3"),
    ("3abc", "malformed number '3abc'", 0, "numbers look like 3, -2, 0.5 or 1e-3"),
    ("1e", "malformed number '1e'", 0, "numbers look like 3, -2, 0.5 or 1e-3"),
    ("x == 1.", "malformed number '1.'", 5, "numbers look like 3, -2, 0.5 or 1e-3"),
    ("1e999", "number '1e999' is out of range", 0, ""),
    ("a b", "unexpected 'b' after a complete expression", 2, "join conditions with 'and' or 'or'"),
    ("a not b", "unexpected 'not' after a complete expression", 2, "join conditions with 'and' or 'or'"),
    ("(a) (b)", "unexpected '(' after a complete expression", 4, "join conditions with 'and' or 'or'"),
    ("a < b < c", "comparisons cannot be chained", 6, "write 'a < b and b < c'"),
    ("a == b not in c", "comparisons cannot be chained", 7, "write 'a < b and b < c'"),
    ("a and", "expected a value, got the end of the expression", 5,
     "a value is a number, a 'string', true, false, null, a path like params.part, a [list] or a (condition)"),
    ("or a", "expected a value, got 'or'", 0,
     "a value is a number, a 'string', true, false, null, a path like params.part, a [list] or a (condition)"),
    ("a == not b", "expected a value, got 'not'", 5, "put 'not ...' in parentheses"),
    ("a in", "expected a value, got the end of the expression", 4,
     "a value is a number, a 'string', true, false, null, a path like params.part, a [list] or a (condition)"),
    ("(a", "expected ')', got the end of the expression", 2, "the '(' at offset 0 is not closed"),
    ("(a b)", "expected ')', got 'b'", 3, "the '(' at offset 0 is not closed"),
    ("[1, 2", "expected ',' or ']', got the end of the expression", 5, "the '[' at offset 0 is not closed"),
    ("[1 2]", "expected ',' or ']', got '2'", 3, "the '[' at offset 0 is not closed"),
    ("[1, ]", "expected a value, got ']'", 4,
     "a value is a number, a 'string', true, false, null, a path like params.part, a [list] or a (condition)"),
    ("len(xs)", "function calls are not allowed", 3,
     "expressions have no functions; compare values with ==, <, in, ..."),
    ("a.b(1)", "function calls are not allowed", 3,
     "expressions have no functions; compare values with ==, <, in, ..."),
    ("params.in", "expected a field name after '.', got 'in'", 7, "'in' is a keyword, not a field name"),
    ("xs.0", "expected a field name after '.', got '0'", 3, "use [0] to pick an item of an array"),
    ("a.", "expected a field name after '.', got the end of the expression", 2, ""),
    ("xs[i]", "expected an integer index, got 'i'", 3, "indexes are whole numbers written out, like [0]"),
    ("xs[1.5]", "expected an integer index, got '1.5'", 3, "indexes are whole numbers written out, like [0]"),
    ("xs[-1]", "an index cannot be negative", 3, "indexes count from 0"),
    ("xs[0", "expected ']', got the end of the expression", 4, "the '[' at offset 2 is not closed"),
    ("a == 'a very long string literal indeed' b", "unexpected 'b' after a complete expression", 41,
     "join conditions with 'and' or 'or'"),
    ("a 'a very long string literal'", "unexpected \"'a very long stri...\" after a complete expression", 2,
     "join conditions with 'and' or 'or'"),
]


@pytest.mark.parametrize(("text", "message", "offset", "hint"), PARSE_ERRORS)
def test_parse_errors(text: str, message: str, offset: int, hint: str) -> None:
    error = error_of(parse, text)
    assert (error.message, error.offset, error.hint) == (message, offset, hint)


def test_limits() -> None:
    assert parse("a" * 1000).node == P("a" * 1000)
    error = error_of(parse, "a" * 1001)
    assert (error.message, error.offset) == ("expression is too long (1001 characters; the limit is 1000)", 1000)
    assert parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH).node == P("a")
    error = error_of(parse, "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    assert (error.message, error.offset) == ("expression is nested too deeply (more than 32 levels)", 32)
    error = error_of(parse, "[" * 40 + "]" * 40)
    assert (error.message, error.offset) == ("expression is nested too deeply (more than 32 levels)", 32)
    error = error_of(parse, "not " * 200 + "a")
    assert (error.message, error.offset) == ("expression is nested too deeply (more than 32 levels)", 128)
    # long but flat is fine: no recursion per operand
    flat = parse(" or ".join(["a"] * 200))
    assert isinstance(flat.node, BoolOp) and len(flat.node.operands) == 200
    assert parse(" and ".join(["true"] * 100)).evaluate({}) is True


def test_error_text_and_pickling() -> None:
    error = ExprError("unknown name 'x'", 3, "known names: ['a']")
    assert str(error) == "unknown name 'x' (at offset 3); known names: ['a']"
    assert str(ExprError("bad")) == "bad (at offset 0)"
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (again.message, again.offset, again.hint) == (error.message, error.offset, error.hint)
    assert error.shifted(10).offset == 13


# --- static types -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "schema"), [
    ("params.part", {"type": "string", "enum": ["red", "green"]}),
    ("params.xs", {"type": "array", "items": {"type": "integer"}}),
    ("params.xs[0]", {"type": "integer"}),
    ("params.meta.anything.deeper[3]", {"type": "any"}),
    ("params.tags.whatever", {"type": "string"}),
    ("anything.x[0].y", {"type": "any"}),
    ("steps.kit.result.slots[0]", {"type": "any"}),
    ("steps.kit.result", TYPES["steps"]["properties"]["kit"]["properties"]["result"]),
    ("index", {"type": "integer"}),
    ("1", {"type": "integer"}),
    ("1.5", {"type": "number"}),
    ("'s'", {"type": "string"}),
    ("null", {"type": "null"}),
    ("true", {"type": "boolean"}),
    ("[1, 2]", {"type": "array", "items": {"type": "integer"}}),
    ("[1, 2.5]", {"type": "array", "items": {"type": "number"}}),
    ("[1, 'a']", {"type": "array", "items": {"type": "any"}}),
    ("[]", {"type": "array", "items": {"type": "any"}}),
    ("[[1], [2, 3]]", {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}),
    ("params.count > 1 and params.part in ['red', 'green']", {"type": "boolean"}),
    ("params.count >= params.speed", {"type": "boolean"}),
    ("item < 'm'", {"type": "boolean"}),
    ("params.part == 'green'", {"type": "boolean"}),
    ("'red' != params.part", {"type": "boolean"}),
    ("params.part == null", {"type": "boolean"}),
    ("params.count == 1.0", {"type": "boolean"}),
    ("anything == 1 or anything < 'x'", {"type": "boolean"}),
    ("not params.fast", {"type": "boolean"}),
    ("not anything", {"type": "boolean"}),
    ("params.count in params.xs", {"type": "boolean"}),
    ("'ol' in item", {"type": "boolean"}),
    ("'k' in params.meta", {"type": "boolean"}),
    ("params.part not in ['red']", {"type": "boolean"}),
    ("1 in anything", {"type": "boolean"}),
    ("params.xs == [1, 2]", {"type": "boolean"}),
])
def test_infer(text: str, schema: Mapping[str, Any]) -> None:
    assert parse(text).infer(TYPES) == schema


def test_infer_untyped_and_open_schemas() -> None:
    types: dict[str, Mapping[str, Any]] = {
        "a": {"properties": {"b": {"items": {"type": "string"}}}},  # no "type": object / array
        "u": {"type": ["string", "null"]},  # a type list: not understood, so any
        "o": {"type": "object", "properties": {"x": {"type": "integer"}}, "additionalProperties": True},
    }
    assert parse("a.b[0]").infer(types) == {"type": "string"}
    assert parse("u.x").infer(types) == {"type": "any"}
    assert parse("o.x").infer(types) == {"type": "integer"}
    assert parse("o.y").infer(types) == {"type": "any"}


KNOWN = "known names: ['anything', 'index', 'item', 'params', 'steps']"
PARAMS = "['count', 'fast', 'meta', 'part', 'speed', 'tags', 'xs']"
BOOL_HINT = "compare it to get a boolean, e.g. params.part == 'red' or params.part != null"

# Golden type errors: (text, message, offset, hint)
TYPE_ERRORS = [
    ("parms.part", "unknown name 'parms'", 0, KNOWN + "; did you mean 'params'?"),
    ("zzz", "unknown name 'zzz'", 0, KNOWN),
    ("params.prt", f"params has no field 'prt'; it has {PARAMS}", 7, "did you mean 'part'?"),
    ("steps.kit.result.tary", "steps.kit.result has no field 'tary'; it has ['slots', 'tray']", 17,
     "did you mean 'tray'?"),
    ("steps.kt", "steps has no field 'kt'; it has ['kit']", 6, "did you mean 'kit'?"),
    ("params.part.x", "params.part is a string, not an object, so it has no field 'x'", 12, ""),
    ("params.xs.first", "params.xs is an array, not an object, so it has no field 'first'", 10,
     "use [0] to pick an item"),
    ("params.part[0]", "params.part is a string, not an array, so it has no index 0", 12, ""),
    ("params[0]", "params is an object, not an array, so it has no index 0", 7, "use .name to read a field"),
    ("index.x", "index is an integer, not an object, so it has no field 'x'", 6, ""),
    ("params.count and true", "'and' needs a boolean, got an integer", 0, BOOL_HINT),
    ("true or params.part", "'or' needs a boolean, got a string", 8, BOOL_HINT),
    ("not params.xs", "'not' needs a boolean, got an array", 4, BOOL_HINT),
    ("not null", "'not' needs a boolean, got null", 4, BOOL_HINT),
    ("true < 1", "cannot compare a boolean < an integer", 5, "'<' needs two numbers or two strings"),
    ("params.part >= 3", "cannot compare a string >= an integer", 12, "'>=' needs two numbers or two strings"),
    ("params.xs > [1]", "cannot compare an array > an array", 10, "'>' needs two numbers or two strings"),
    ("anything < null", "cannot compare a value of any type < null", 9, "'<' needs two numbers or two strings"),
    ("params.count == 'three'", "cannot compare an integer == a string", 13, "they are never equal"),
    ("params.fast != 1", "cannot compare a boolean != an integer", 12, "they are never equal"),
    ("params.part == 'grean'", "'grean' is not one of ['red', 'green']", 15, "did you mean 'green'?"),
    ("'blu' == params.part", "'blu' is not one of ['red', 'green']", 0, ""),
    ("params.part in ['red', 'gren']", "'gren' is not one of ['red', 'green']", 23, "did you mean 'green'?"),
    ("'a' in params.xs", "cannot look for a string in an array of integer items", 4, "they are never equal"),
    ("1 in item", "cannot look for an integer in a string", 2, "the left side of 'in' must be a string here"),
    ("1 not in params.meta", "cannot look for an integer among the keys of an object", 2,
     "the left side of 'in' must be a string here"),
    ("1 in 2", "'in' needs an array, a string or an object on the right, got an integer", 5, ""),
    ("item not in null", "'not in' needs an array, a string or an object on the right, got null", 12, ""),
    ("(params.count > 1) and params.part", "'and' needs a boolean, got a string", 23, BOOL_HINT),
]


@pytest.mark.parametrize(("text", "message", "offset", "hint"), TYPE_ERRORS)
def test_type_errors(text: str, message: str, offset: int, hint: str) -> None:
    error = error_of(parse(text).infer, TYPES)
    assert (error.message, error.offset, error.hint) == (message, offset, hint)


def test_enum_with_numbers() -> None:
    types = {"p": {"type": "object", "properties": {"n": {"type": "integer", "enum": [1, 2]}}}}
    assert parse("p.n == 2.0").infer(types) == {"type": "boolean"}
    error = error_of(parse("p.n in [1, 3]").infer, types)
    assert (error.message, error.offset, error.hint) == ("3 is not one of [1, 2]", 11, "")


# --- evaluation -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("params.part", "red"),
    ("params.xs", [1, 2, 3]),
    ("steps.kit.result.slots[0][1]", 2),
    ("params.meta.n", None),
    ("[params.count, item]", [3, "bolt"]),
    ("params.count > 1 and params.part in ['red', 'green']", True),
    ("params.count > 3 or params.part == 'green'", False),
    ("not params.fast", False),
    ("not (params.count < 3)", True),
    ("1 == 1.0", True),
    ("2 < 2.5", True),
    ("-1 <= -1", True),
    ("'abc' < 'abd'", True),
    ("'b' >= 'a'", True),
    ("true == 1", False),
    ("false == 0", False),
    ("true != 1", True),
    ("null == null", True),
    ("params.meta.n == null", True),
    ("params.part == null", False),
    ("params.part != null", True),
    ("'3' == 3", False),
    ("[1, true] == [1.0, true]", True),
    ("[1] == [true]", False),
    ("[] == []", True),
    ("params.meta == params.meta", True),
    ("params.tags == params.meta", False),
    ("2 in params.xs", True),
    ("2.0 in params.xs", True),
    ("true in [1]", False),
    ("4 not in params.xs", True),
    ("'ol' in item", True),
    ("'' in item", True),
    ("'k' in params.meta", True),
    ("'v' in params.meta", False),
    ("[1] in steps.kit.result.slots", False),
    ("[3] in steps.kit.result.slots", True),
    ("index == 2 and index >= 2.0", True),
])
def test_evaluate(text: str, value: Any) -> None:
    result = parse(text).evaluate(ENV)
    assert result == value
    assert type(result) is type(value)


def test_short_circuit() -> None:
    # The right side would fail (missing field / not a boolean) but is never evaluated.
    assert parse("false and params.nope").evaluate(ENV) is False
    assert parse("true or params.part").evaluate(ENV) is True
    assert parse("params.fast or 1").evaluate(ENV) is True
    assert error_of(parse("params.fast and 1").evaluate, ENV).message == "'and' needs a boolean, got an integer"


# Golden run-time errors: (text, message, offset)
RUN_ERRORS = [
    ("steps.kit.result.tary", "steps.kit.result has no field 'tary'; it has ['slots', 'tray']", 17),
    ("nope", "unknown name 'nope'", 0),
    ("params.xs[3]", "params.xs has no index 3; it has 3 items", 10),
    ("steps.kit.result.slots[1][1]", "steps.kit.result.slots[1] has no index 1; it has 1 item", 26),
    ("params.part.x", "params.part is a string, not an object, so it has no field 'x'", 12),
    ("params.meta.n.x", "params.meta.n is null, not an object, so it has no field 'x'", 14),
    ("item[0]", "item is a string, not an array, so it has no index 0", 5),
    ("true < 1", "cannot compare a boolean < an integer", 5),
    ("'a' > 1", "cannot compare a string > an integer", 4),
    ("null <= null", "cannot compare null <= null", 5),
    ("params.xs < [4]", "cannot compare an array < an array", 10),
    ("not params.part", "'not' needs a boolean, got a string", 4),
    ("params.count or true", "'or' needs a boolean, got an integer", 0),
    ("1 in item", "cannot look for an integer in a string", 2),
    ("null in params.meta", "cannot look for null among the keys of an object", 5),
    ("1 in index", "'in' needs an array, a string or an object on the right, got an integer", 5),
]


@pytest.mark.parametrize(("text", "message", "offset"), RUN_ERRORS)
def test_run_errors(text: str, message: str, offset: int) -> None:
    error = error_of(parse(text).evaluate, ENV)
    assert (error.message, error.offset) == (message, offset)


def test_run_error_hints() -> None:
    error = error_of(parse("steps.kit.result.tary").evaluate, ENV)
    assert error.hint == "did you mean 'tray'?"
    error = error_of(parse("parms").evaluate, ENV)
    assert error.hint == "known names: ['index', 'item', 'params', 'steps']; did you mean 'params'?"


def test_tuples_and_custom_mappings() -> None:
    from types import MappingProxyType

    env = {"p": MappingProxyType({"xs": (1, 2), "m": MappingProxyType({"a": 1})})}
    assert parse("p.xs[1] == 2 and p.xs == [1, 2] and 'a' in p.m").evaluate(env) is True


# --- templates --------------------------------------------------------------------------


def test_template_whole_keeps_type() -> None:
    template = parse_template("${params.xs}")
    assert template.whole
    assert template.render(ENV) == [1, 2, 3]
    assert template.infer(TYPES) == {"type": "array", "items": {"type": "integer"}}
    assert parse_template("${ params.count }").render(ENV) == 3
    assert parse_template("${params.count > 1}").render(ENV) is True
    assert [(e.text, o) for e, o in template.expressions()] == [("params.xs", 2)]


def test_template_interpolation() -> None:
    template = parse_template("${params.part}-${params.count}")
    assert not template.whole
    assert [p if isinstance(p, str) else p.text for p in template.parts] == ["params.part", "-", "params.count"]
    assert template.render(ENV) == "red-3"
    assert template.infer(TYPES) == {"type": "string"}
    assert [(e.text, o) for e, o in template.expressions()] == [("params.part", 2), ("params.count", 17)]
    text = "to ${params.part} at ${params.speed}: ${params.fast}, ${'}'} ${ \"${\" }"
    assert parse_template(text).render(ENV) == "to red at 0.5: true, } ${"
    assert parse_template(" ${params.count}").render(ENV) == " 3"  # text around: a string


def test_template_without_expressions() -> None:
    for text in ("", "plain", "a } b", "$ {x}", "cost: $5"):
        template = parse_template(text)
        assert not template.whole and template.expressions() == []
        assert template.render({}) == text
        assert template.infer({}) == {"type": "string"}
    assert parse_template("").parts == ()
    assert parse_template("abc") == Template("abc", ("abc",), False)


def test_is_template() -> None:
    assert is_template("${a}") and is_template("x ${")
    assert not is_template("$a {b}") and not is_template(3) and not is_template(None) and not is_template(["${a}"])


# Golden template errors, offsets in the template text: (text, message, offset, hint)
TEMPLATE_ERRORS = [
    ("abc ${params.part", "unclosed '${'", 4, "end it with '}'"),
    ("${'abc}", "unclosed '${'", 0, "a string inside it is not closed (')"),
    ("x ${}", "empty expression in '${}'", 2, "put an expression between the braces, e.g. ${params.part}"),
    ("${  } y", "empty expression in '${}'", 0, "put an expression between the braces, e.g. ${params.part}"),
    ("ok ${a} ${b c}", "unexpected 'c' after a complete expression", 12, "join conditions with 'and' or 'or'"),
    ("${a ${b}}", "unexpected character '$'", 4, "write the path directly inside one '${...}', e.g. ${params.part}"),
]


@pytest.mark.parametrize(("text", "message", "offset", "hint"), TEMPLATE_ERRORS)
def test_template_errors(text: str, message: str, offset: int, hint: str) -> None:
    error = error_of(parse_template, text)
    assert (error.message, error.offset, error.hint) == (message, offset, hint)


def test_template_type_and_run_errors_are_offset_in_the_template() -> None:
    error = error_of(parse_template("id: ${params.prt}").infer, TYPES)
    assert (error.message, error.offset) == (f"params has no field 'prt'; it has {PARAMS}", 13)
    error = error_of(parse_template("${params.prt}").infer, TYPES)
    assert error.offset == 9
    error = error_of(parse_template("all: ${params.xs}").infer, TYPES)
    assert (error.message, error.offset) == ("cannot put an array into text", 7)
    assert error.hint == "pick a field or an item of it, or make the whole value one '${...}'"
    error = error_of(parse_template("n: ${params.meta.n}").render, ENV)  # any statically; null at run time
    assert (error.message, error.offset) == ("cannot put null into text", 5)
    error = error_of(parse_template("n: ${params.meta}").infer, TYPES)
    assert (error.message, error.offset) == ("cannot put an object into text", 5)
    assert parse_template("n: ${anything}").infer(TYPES) == {"type": "string"}  # any: checked at run time
    error = error_of(parse_template("n: ${anything}").render, {"anything": {"a": 1}})
    assert (error.message, error.offset) == ("cannot put an object into text", 5)
    error = error_of(parse_template("${params.xs[5]}").render, ENV)
    assert (error.message, error.offset) == ("params.xs has no index 5; it has 3 items", 12)
    error = error_of(parse_template("a${null}").infer, TYPES)
    assert (error.message, error.offset) == ("cannot put null into text", 3)


# --- properties -------------------------------------------------------------------------

PROP_TYPES: dict[str, Mapping[str, Any]] = {
    "params": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "number"},
        "s": {"type": "string", "enum": ["red", "green", "blue"]}, "flag": {"type": "boolean"},
        "xs": {"type": "array", "items": {"type": "integer"}}, "obj": {"type": "object"}}},
    "item": {"type": "string"},
    "index": {"type": "integer"},
}
PROP_PATHS = [("params", "a"), ("params", "b"), ("params", "s"), ("params", "flag"), ("params", "xs"),
              ("params", "xs", 0), ("params", "xs", 2), ("params", "obj", "k"), ("params", "obj"), ("item",),
              ("index",), ("params", "nope"), ("params", "xs", 7), ("nope",), ("params", "s", "x")]
OPEN_PATHS = {("params", "obj", "k"), ("params", "obj"), ("params", "xs", 7)}  # may be missing at run time

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False,
                         allow_infinity=False), st.text(max_size=4))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["k", "j", "red"]), inner, max_size=3)),
    max_leaves=6)
constants = st.one_of(json_scalars, st.sampled_from(["red", "green", "blue", "gren"])).map(Const)
paths = st.sampled_from(PROP_PATHS).map(lambda parts: PathRef(tuple(parts)))
nodes: st.SearchStrategy[Node] = st.recursive(
    st.one_of(constants, paths, paths),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: ListLit(tuple(items))),
        inner.map(Not),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)).map(
            lambda t: BoolOp(t[0], tuple(t[1]))),
        st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]), inner, inner).map(
            lambda t: Compare(t[0], t[1], t[2])),  # type: ignore[arg-type]
    ),
    max_leaves=10,
)
envs = st.fixed_dictionaries({
    "params": st.fixed_dictionaries({
        "a": st.integers(), "b": st.floats(allow_nan=False), "s": st.sampled_from(["red", "green", "blue"]),
        "flag": st.booleans(), "xs": st.lists(st.integers(-3, 3), min_size=3, max_size=5),
        "obj": st.dictionaries(st.sampled_from(["k", "x"]), json_values, max_size=2)}),
    "item": st.text(max_size=5),
    "index": st.integers(-3, 3),
})


def render(node: Node) -> str:
    """Text for a tree; compound operands get parentheses."""
    if isinstance(node, Const):
        if isinstance(node.value, str):
            return "'" + node.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return {True: "true", False: "false", None: "null"}.get(node.value, repr(node.value)) \
            if node.value is None or isinstance(node.value, bool) else repr(node.value)
    if isinstance(node, PathRef):
        return str(node.parts[0]) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in node.parts[1:])
    if isinstance(node, ListLit):
        return "[" + ", ".join(render(item) for item in node.items) + "]"
    if isinstance(node, Not):
        return "not " + wrapped(node.operand)
    if isinstance(node, BoolOp):
        return f" {node.op} ".join(wrapped(o) for o in node.operands)
    return f"{wrapped(node.left)} {node.op} {wrapped(node.right)}"


def wrapped(node: Node) -> str:
    return f"({render(node)})" if isinstance(node, Not | BoolOp | Compare) else render(node)


def outcome(expr: Expr, env: Mapping[str, Any]) -> tuple[str, str]:
    try:
        return "value", repr(expr.evaluate(env))
    except ExprError as error:
        return "error", error.message


def too_big(error: ExprError) -> bool:
    return error.message.startswith(("expression is nested too deeply", "expression is too long"))


@settings(max_examples=200, deadline=None)
@given(nodes, envs)
def test_rendered_trees_parse_back_to_the_same_meaning(node: Node, env: dict[str, Any]) -> None:
    text = render(node)
    try:
        expr = parse(text)
    except ExprError as error:
        assert too_big(error), (text, error)
        return
    assert expr.node == node
    assert outcome(expr, env) == outcome(Expr("", node), env)
    assert [p for p, _ in expr.paths()] == [p for p, _ in Expr("", node).paths()]
    for parts, offset in expr.paths():
        assert text[offset:].startswith(str(parts[0]))


grammar_chars = st.sampled_from(list("abnotrdiulfe_.[]()'\"\\ 0123456789-=!<>,${}\té"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(grammar_chars, max_size=40), st.text(max_size=40),
                 nodes.map(render).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i]))))
def test_any_text_parses_or_raises_expr_error(text: str) -> None:
    for attempt in (parse, parse_template, lambda t: parse_template("x ${" + t + "} y")):
        try:
            attempt(text)
        except ExprError as error:
            assert 0 <= error.offset <= len(text) + 4
            assert error.message


@settings(max_examples=200, deadline=None)
@given(nodes, envs)
def test_well_typed_expressions_evaluate(node: Node, env: dict[str, Any]) -> None:
    expr = Expr(render(node), node)
    try:
        schema = expr.infer(PROP_TYPES)
    except ExprError:
        return
    uses_open = any(parts in OPEN_PATHS for parts, _ in expr.paths())
    try:
        value = expr.evaluate(env)
    except ExprError:
        assert uses_open, expr.text  # closed types, values that match them: no run-time error
        return
    kind = schema["type"]
    expected = {"boolean": bool, "string": str, "array": list, "null": type(None)}.get(kind)
    if expected is not None:
        assert isinstance(value, expected), (expr.text, schema, value)
    if kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        assert isinstance(value, int | float) and not isinstance(value, bool)
