"""Skills of a cell and their registry (`SKILLS`, `get_skill`)."""

from cellwright.cells.skills.base import Skill, SkillContext, SkillError
from cellwright.cells.skills.handling import Pick, PickPlace, Place
from cellwright.cells.skills.motion import MoveTo
from cellwright.cells.skills.noop import Noop

SKILLS: dict[str, Skill] = {skill.name: skill for skill in
                            (MoveTo(), Pick(), Place(), PickPlace(), Noop())}


def get_skill(name: str) -> Skill:
    """The skill registered as `name`.

    Raises:
        KeyError: unknown skill (the message lists the known ones).
    """
    try:
        return SKILLS[name]
    except KeyError:
        raise KeyError(f"unknown skill {name!r}; known skills: {sorted(SKILLS)}") from None


__all__ = ["SKILLS", "Skill", "SkillContext", "SkillError", "get_skill"]
