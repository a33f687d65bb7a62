"""Publish a fake arm cell's state stream to try decoders against (no simulator needed).

    PYTHONPATH=. python examples/state_stream/demo_publisher.py --seconds 10

Prints the bound endpoint on its first line, then publishes `cell/demo/robot/arm` at
100 Hz and `cell/demo/state` at 10 Hz (the cell's rates), on a clock that starts at 0.
"""

from __future__ import annotations

import argparse
import math
import time

from cellwright.api.statestream import StatePublisher, cell_topic, robot_topic
from cellwright.v1 import packml_pb2, state_pb2

ROBOT_HZ = 100
CELL_EVERY = 10  # robot ticks per cell state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="tcp://127.0.0.1:0")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    robot = state_pb2.RobotState(cell_id="demo", robot="arm", joint_names=[f"joint_{i}" for i in range(1, 8)])
    cell = state_pb2.CellState(cell_id="demo", packml_state=packml_pb2.PACKML_STATE_EXECUTE)
    with StatePublisher(args.endpoint) as publisher:
        print(publisher.endpoint, flush=True)
        start = time.monotonic()
        for tick in range(int(args.seconds * ROBOT_HZ)):
            t = tick / ROBOT_HZ
            robot.ClearField("position_rad")
            robot.position_rad.extend(0.5 * math.sin(t + j) for j in range(7))
            robot.tool_pose.position_m.x = 0.4 + 0.1 * math.cos(t)
            robot.gripper_width_m = 0.04 + 0.04 * math.sin(t)
            publisher.publish(robot_topic("demo", "arm"), robot, t)
            if tick % CELL_EVERY == 0:
                cell.clock_s = t
                publisher.publish(cell_topic("demo"), cell, t)
            time.sleep(max(0.0, start + (tick + 1) / ROBOT_HZ - time.monotonic()))


if __name__ == "__main__":
    main()
