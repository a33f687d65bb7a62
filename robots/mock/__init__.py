"""Mock robots (`mock.*` models): ideal followers without physics, peers of the PyBullet
ones (as ros2_control's mock_components are of real hardware).

    arm, gripper, base, io   MockArm, MockGripper, MockBase, MockIO (each an ideal follower;
                             the threading rules of `robots.component`; `info()` and
                             `state()` return immutable snapshots replaced whole)
    scene        KinematicScene (a thread-safe table of parts), MockPartLocator
    panda        build(): the `mock.panda` factory

Nothing here steps a simulator: a mock arm uses PyBullet only for kinematics, in private
clients.
"""

from cellwright.robots.mock.arm import MockArm
from cellwright.robots.mock.base import MockBase
from cellwright.robots.mock.gripper import MockGripper
from cellwright.robots.mock.io import MockIO
from cellwright.robots.mock.scene import KinematicScene, MockPartLocator, ScenePart

__all__ = ["KinematicScene", "MockArm", "MockBase", "MockGripper", "MockIO", "MockPartLocator",
           "ScenePart"]
