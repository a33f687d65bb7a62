"""A belt conveyor as an IO component: facts shared by every driver of it.

    run           out, digital   the belt runs at `speed` while true
    speed         out, analog    belt speed, m/s, 0..max_speed_m_s (forward only)
    part_present  in, digital    the part-present sensor across the belt sees a part

stop() and estop() stop the belt (`run` reads false afterwards); the safety monitor's
`speed_override` scales the belt's speed (0 halts it while `run` stays true).
"""

from __future__ import annotations

from typing import Any

from cellwright.robots.io import IOPoint

MODEL = "belt_conveyor"
RUN, SPEED, PART_PRESENT = "run", "speed", "part_present"
DEFAULT_MAX_SPEED_M_S = 0.5


def points(max_speed_m_s: float) -> tuple[IOPoint, ...]:
    """The conveyor's IO points, its speed limited to `max_speed_m_s`."""
    return (IOPoint(RUN, "out", "digital"),
            IOPoint(SPEED, "out", "analog", 0.0, max_speed_m_s, "m/s"),
            IOPoint(PART_PRESENT, "in", "digital"))


MAX_SPEED_PROPERTY: dict[str, Any] = {
    "type": "number", "minimum": 0.001, "maximum": 65.0, "default": DEFAULT_MAX_SPEED_M_S,
    "description": "the highest belt speed, m/s (the `speed` point's upper limit)"}

CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "length_m": {"type": "number", "minimum": 0.1, "default": 1.5,
                     "description": "belt length along its axis (the mount's x axis), m"},
        "width_m": {"type": "number", "minimum": 0.05, "default": 0.3, "description": "belt width, m"},
        "height_m": {"type": "number", "minimum": 0.02, "default": 0.4,
                     "description": "height of the belt's top above the mount, m"},
        "max_speed_m_s": MAX_SPEED_PROPERTY,
        "sensor_at_m": {"type": "number", "default": 0.5,
                        "description": "where the part-present sensor looks across the belt: "
                                       "distance from the belt's centre along its axis, m"},
        "sensor_height_m": {"type": "number", "minimum": 0.001, "default": 0.01,
                            "description": "the sensor's beam height above the belt, m"},
    },
}
"""A cell config's entry for a `pybullet.conveyor` (its mount is the belt's bottom centre)."""
