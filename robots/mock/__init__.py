"""Mock robots (`mock.*` models): ideal followers without physics, peers of the PyBullet
ones (as ros2_control's mock_components are of real hardware).

    components   MockArm, MockGripper, MockBase, MockIO
    scene        KinematicScene (a thread-safe table of parts), MockPartLocator
    panda        build(): the `mock.panda` factory

Nothing here steps a simulator: a mock arm uses PyBullet only for kinematics, in private
clients.
"""

from cellwright.robots.mock.components import MockArm, MockBase, MockGripper, MockIO
from cellwright.robots.mock.scene import KinematicScene, MockPartLocator, ScenePart

__all__ = ["KinematicScene", "MockArm", "MockBase", "MockGripper", "MockIO", "MockPartLocator",
           "ScenePart"]
