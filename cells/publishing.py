"""A cell's state stream: its robots' states and its cell state, published from the
control loop at `publish_hz` of the cell's clock (and on wall time while the clock stands)."""

from __future__ import annotations

from collections.abc import Callable

from cellwright.api.statestream import StatePublisher, cell_topic, robot_topic
from cellwright.cells.environment import CellRuntime
from cellwright.cells.state_messages import robot_state_proto
from cellwright.v1 import state_pb2

CELL_STATE_HZ = 10.0  # for cells without robots: only the cell state, so less often


class StatePublishing:
    """Owns the cell's ZeroMQ PUB socket; every use is on the control loop's thread.

    Args:
        cell_id: the cell.
        runtime: the cell's robots and loop.
        cell_state: builds the CellState message (called on the loop thread; it must only
            read plain attributes).
        endpoint: where to bind.
        publish_hz: robot state rate on the cell's clock.
    """

    def __init__(self, cell_id: str, runtime: CellRuntime, cell_state: Callable[[float], state_pb2.CellState],
                 endpoint: str, publish_hz: float) -> None:
        self.cell_id, self.runtime, self._cell_state = cell_id, runtime, cell_state
        self._publisher = runtime.loop.call(lambda: StatePublisher(endpoint))
        self.endpoint = self._publisher.endpoint
        period = 1.0 / (publish_hz if runtime.robots else CELL_STATE_HZ)
        runtime.loop.add_listener(self._publish, period)

    def _publish(self, now: float) -> None:
        for robot in self.runtime.robots.values():
            self._publisher.publish(robot_topic(self.cell_id, robot.name),
                                    robot_state_proto(self.cell_id, robot, now), now)
        self._publisher.publish(cell_topic(self.cell_id), self._cell_state(now), now)

    def close(self) -> None:
        """Stop publishing and close the socket (on the loop thread, if it still runs)."""
        self.runtime.loop.remove_listener(self._publish)
        self.runtime.loop.call(self._publisher.close)
