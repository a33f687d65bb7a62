"""The parameter schema subset shared by workflows and skills (cellwright.schema)."""

from __future__ import annotations

import math

import pytest

from cellwright.api.schema import SchemaError, check_schema, check_value, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "part": {"type": "string", "enum": ["red_cube", "blue_cube"]},
        "speed": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
        "count": {"type": "integer", "minimum": 1, "default": 1},
        "gentle": {"type": "boolean", "default": False},
        "via": {"type": "array", "default": []},
        "pose": {"type": "object", "default": {}},
    },
    "required": ["part"],
}
OWNER = "workflow demo"


def problem(spec: dict[str, object], value: object) -> SchemaError:
    with pytest.raises(SchemaError) as info:
        check_value(spec, value, "params.x")
    assert info.value.field == "params.x"
    return info.value


# --- check_value -----------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "value"), [
    ("string", "a"), ("number", 1), ("number", 1.5), ("integer", 3), ("boolean", True),
    ("array", [1, "a"]), ("object", {"a": 1}),
])
def test_a_value_of_the_declared_type_is_accepted(kind, value):
    assert check_value({"type": kind}, value, "params.x") == value


@pytest.mark.parametrize(("kind", "value"), [
    ("string", 1), ("number", "1"), ("integer", 1.5), ("integer", "3"), ("boolean", 1),
    ("boolean", "true"), ("array", {"a": 1}), ("object", [1]), ("string", None),
])
def test_a_value_of_another_type_is_refused_naming_the_expected_type(kind, value):
    assert f"expected {kind}" in problem({"type": kind}, value).problem


def test_an_integral_float_is_accepted_as_an_integer_and_made_int():
    value = check_value({"type": "integer"}, 3.0, "params.x")
    assert value == 3 and type(value) is int


@pytest.mark.parametrize("kind", ["number", "integer"])
def test_a_bool_is_not_a_number(kind):
    problem({"type": kind}, True)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused(value):
    assert "finite" in problem({"type": "number"}, value).problem


def test_a_value_outside_the_enum_is_refused_listing_the_choices():
    error = problem({"type": "string", "enum": ["red_cube", "blue_cube"]}, "red")
    assert "['red_cube', 'blue_cube']" in error.problem


def test_a_value_below_the_minimum_is_refused():
    assert "minimum 0" in problem({"type": "number", "minimum": 0}, -0.1).problem


def test_a_value_above_the_maximum_is_refused():
    assert "maximum 1" in problem({"type": "number", "maximum": 1}, 1.5).problem


def test_the_bounds_themselves_are_accepted():
    spec = {"type": "integer", "minimum": 1, "maximum": 3}
    assert [check_value(spec, v, "p") for v in (1, 3)] == [1, 3]


# --- validate --------------------------------------------------------------------------

def test_validate_fills_defaults_for_missing_optional_params():
    assert validate(SCHEMA, {"part": "red_cube"}, "params", OWNER) == {
        "part": "red_cube", "speed": 1, "count": 1, "gentle": False, "via": [], "pose": {}}


def test_validate_keeps_given_values_over_defaults():
    result = validate(SCHEMA, {"part": "blue_cube", "speed": 0.5, "count": 2.0}, "params", OWNER)
    assert (result["speed"], result["count"]) == (0.5, 2)


def test_validate_refuses_an_unknown_param_naming_it_and_the_known_ones():
    with pytest.raises(SchemaError) as info:
        validate(SCHEMA, {"part": "red_cube", "colour": "red"}, "params", OWNER)
    assert info.value.field == "params.colour"
    assert "workflow demo takes" in info.value.problem and "'part'" in info.value.problem


def test_validate_refuses_a_missing_required_param_with_its_choices():
    with pytest.raises(SchemaError) as info:
        validate(SCHEMA, {}, "params", OWNER)
    assert info.value.field == "params.part"
    assert "required by workflow demo" in info.value.problem
    assert "red_cube" in info.value.problem


def test_validate_names_the_field_of_a_bad_value():
    with pytest.raises(SchemaError) as info:
        validate(SCHEMA, {"part": "red_cube", "speed": 2}, "params", OWNER)
    assert str(info.value).startswith("params.speed:")


def test_a_schema_without_params_takes_none():
    with pytest.raises(SchemaError, match="no parameters"):
        validate({"type": "object"}, {"x": 1}, "params", OWNER)


# --- check_schema ----------------------------------------------------------------------

def test_a_good_schema_passes():
    check_schema(SCHEMA, "params")


@pytest.mark.parametrize(("spec", "field"), [
    ({"type": "text"}, "params.x"),
    ({}, "params.x"),
    ({"type": "string", "min": 1}, "params.x.min"),
    ({"type": "string", "default": 3}, "params.x.default"),
    ({"type": "number", "minimum": 0, "default": -1}, "params.x.default"),
    ({"type": "string", "enum": "red_cube"}, "params.x.enum"),
    ({"type": "string", "enum": []}, "params.x.enum"),
    ({"type": "string", "enum": ["a", 1]}, "params.x.enum"),
    ({"type": "string", "default": "c", "enum": ["a", "b"]}, "params.x.default"),
    ({"type": "string", "minimum": 1}, "params.x.minimum"),
    ({"type": "number", "maximum": "3"}, "params.x.maximum"),
    ({"type": "integer", "minimum": True}, "params.x.minimum"),
    ({"type": "number", "minimum": 2, "maximum": 1}, "params.x.maximum"),
    ({"type": "string", "description": 3}, "params.x.description"),
])
def test_a_bad_property_spec_is_refused_naming_the_field(spec, field):
    with pytest.raises(SchemaError) as info:
        check_schema({"type": "object", "properties": {"x": spec}}, "params")
    assert info.value.field == field


def test_properties_must_be_a_mapping():
    with pytest.raises(SchemaError) as info:
        check_schema({"type": "object", "properties": ["x"]}, "params")
    assert info.value.field == "params.properties"


def test_required_must_name_declared_params():
    with pytest.raises(SchemaError) as info:
        check_schema({"type": "object", "properties": {}, "required": ["x"]}, "params")
    assert info.value.field == "params.required"
