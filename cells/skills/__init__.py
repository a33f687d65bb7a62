"""Skills of a cell and their registry: `SKILLS` (entry-point group `cellwright.skills`),
`register()`, `get_skill()`."""

from cellwright.api.registry import Registry
from cellwright.api.schema import check_schema
from cellwright.cells.skills.base import Skill, SkillContext, SkillError, check_result, result_schema
from cellwright.cells.skills.handling import Pick, PickPlace, Place
from cellwright.cells.skills.motion import MoveTo
from cellwright.cells.skills.noop import Noop
from cellwright.cells.skills.totes import CarryTote, Handover, PickTote, PlaceTote
from cellwright.cells.skills.walking import WalkTo


def _check_skill(entry: object) -> None:
    for attribute in ("name", "description", "params_schema", "run"):
        if not hasattr(entry, attribute):
            raise TypeError(f"a skill needs name, description, params_schema and run(); "
                            f"{type(entry).__name__} has no {attribute}")
    check_schema(entry.params_schema, f"skill {entry.name}: params_schema")  # type: ignore[attr-defined]
    if hasattr(entry, "result_schema"):  # optional for older plugins: then not declared
        check_schema(entry.result_schema, f"skill {entry.name}: result_schema")  # type: ignore[attr-defined]


SKILLS: Registry[Skill] = Registry("cellwright.skills", "skill", key=lambda s: s.name,
                                   check=_check_skill)
for _skill in (MoveTo(), Pick(), Place(), PickPlace(), Noop(), WalkTo(), PickTote(), PlaceTote(),
               CarryTote(), Handover()):
    SKILLS.register(_skill, origin="cellwright (built in)")


def register(skill: Skill, *, replace: bool = False) -> Skill:
    """Add a skill (an object with name, description, params_schema, result_schema and
    run())."""
    return SKILLS.register(skill, replace=replace)


def get_skill(name: str) -> Skill:
    """The skill registered as `name`.

    Raises:
        RegistryError (a KeyError): unknown skill; the message lists the known ones.
    """
    return SKILLS.get(name)


__all__ = ["SKILLS", "Skill", "SkillContext", "SkillError", "check_result", "get_skill", "register",
           "result_schema"]
