"""OPC UA driver figures beside a bare asyncua client on the same virtual controller, same run.

- command-to-motion: from the call that starts a 0.05 rad move of joint 1 until the caller
  first sees joint 1 move (> 1 mrad). Ours: `OpcUaArm.move_joints()` on a 100 Hz wall-clock
  control loop, watched through `arm.state()`; bare: `call_method(MoveJoints)` and a
  subscription to ActualPosition (same publishing interval). The controller's own physics
  and its 100 Hz publishing are in both figures.
- state rate: heartbeats per second that reach the caller (the controller publishes about
  100 per second): ours counts distinct values seen by `read()`, bare counts notifications.

The controller runs in this process (its PyBullet loop and asyncio server in threads), like
the client: on 2 shared cores all of them compete, which the figures include. Security None
for both (named), so the figures are the protocol's and the driver's, not the cipher's.
Prints figures, never asserts:

    python -m bench.opcua_latency [--moves 20] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from asyncua import Client, ua

from bench import save_json
from cellwright.app.virtual_controller import start_virtual_controller
from cellwright.robots import BuildContext, ControlLoop, build_robot

MOVED_RAD = 1e-3
STEP_RAD = 0.05


def _driver(url: str, moves: int) -> tuple[list[float], float]:
    robot = build_robot("opcua.panda", BuildContext("panda"), {"endpoint": url, "security_policy": "None"})
    loop = ControlLoop(0.01, clock="realtime")
    for component in robot.components.values():
        loop.add(component)
    loop.start()
    arm = robot.components["arm"]
    try:
        for component in robot.components.values():
            loop.call(component.activate)
        latencies = []
        for i in range(moves):
            start = arm.state().position.copy()
            target = start.copy()
            target[0] += STEP_RAD if i % 2 == 0 else -STEP_RAD
            began = time.perf_counter()
            goal = arm.move_joints(target, speed=1.0)
            while abs(arm.state().position[0] - start[0]) < MOVED_RAD:
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - began)
            goal.result(30)
        beats, seen, began = 0, None, time.perf_counter()
        while time.perf_counter() - began < 3.0:
            value = arm._link.values().get("Heartbeat")  # what read() sees, sampled at 1 kHz
            if value != seen:
                beats, seen = beats + 1, value
            time.sleep(0.001)
        return latencies, beats / (time.perf_counter() - began)
    finally:
        for component in robot.components.values():
            loop.call(component.shutdown)
        loop.stop()


async def _bare(url: str, moves: int) -> tuple[list[float], float]:
    async with Client(url) as client:
        cw = await client.get_namespace_index("urn:cellwright:opcua:robot")
        device = client.get_node(ua.NodeId("panda.arm", cw))
        position = client.get_node(ua.NodeId("panda.arm.Axes.panda_joint1.ParameterSet.ActualPosition", cw))
        heartbeat = client.get_node(ua.NodeId("panda.arm.Heartbeat", cw))
        move = client.get_node(ua.NodeId("panda.arm.MoveJoints", cw))
        joints = [client.get_node(ua.NodeId(f"panda.arm.Axes.panda_joint{i}.ParameterSet.ActualPosition", cw))
                  for i in range(1, 8)]
        latest: dict[str, Any] = {"beats": 0}
        changed = asyncio.Event()

        class Handler:
            def datachange_notification(self, node: Any, value: Any, _data: Any) -> None:
                if node.nodeid == heartbeat.nodeid:
                    latest["beats"] += 1
                else:
                    latest["position"] = value
                    changed.set()

        subscription = await client.create_subscription(10, Handler())
        await subscription.subscribe_data_change([position, heartbeat])
        latencies = []
        for i in range(moves):
            start = [await j.read_value() for j in joints]
            target = list(start)
            target[0] += STEP_RAD if i % 2 == 0 else -STEP_RAD
            began = time.perf_counter()
            await device.call_method(move, ua.Variant(target, ua.VariantType.Double), 1.0, 30.0)
            while abs(latest.get("position", start[0]) - start[0]) < MOVED_RAD:
                changed.clear()
                await changed.wait()
            latencies.append(time.perf_counter() - began)
            while abs(latest["position"] - target[0]) > 2e-3:
                changed.clear()
                await changed.wait()
        latest["beats"], began = 0, time.perf_counter()
        await asyncio.sleep(3.0)
        rate = latest["beats"] / (time.perf_counter() - began)
        await subscription.delete()
        return latencies, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    controller = start_virtual_controller("arm_cell", "panda", url="opc.tcp://127.0.0.1:0",
                                          pki=Path(tempfile.mkdtemp()), policy="None")
    try:
        print(f"virtual controller at {controller.server.url}; {args.moves} moves each", flush=True)
        bare_latency, bare_rate = asyncio.run(_bare(controller.server.url, args.moves))
        ours_latency, ours_rate = _driver(controller.server.url, args.moves)
    finally:
        controller.close()
    rows = {"bare asyncua client": (bare_latency, bare_rate), "OpcUaArm (driver)": (ours_latency, ours_rate)}
    print(f"\n{'':22} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'state Hz':>9}")
    results: dict[str, Any] = {"machine": platform.node(), "threads": threading.active_count()}
    for name, (latencies, rate) in rows.items():
        ms = sorted(1000 * v for v in latencies)
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(f"{name:22} {statistics.median(ms):10.1f} {p90:8.1f} {ms[-1]:8.1f} {rate:9.1f}")
        results[name] = {"median_ms": statistics.median(ms), "p90_ms": p90, "max_ms": ms[-1], "state_hz": rate}
    ratio = statistics.median(ours_latency) / statistics.median(bare_latency)
    print(f"\ndriver / bare: latency x{ratio:.2f}, state rate x{ours_rate / bare_rate:.2f}")
    results["latency_ratio"] = ratio
    if args.json:
        save_json(str(args.json), results)


if __name__ == "__main__":
    main()
