"""Serve a robot's arm (and gripper) over OPC UA: the OPC 40010 address space with live values,
and our namespace's methods bound to the components.

    server = RobotServer(arm, gripper, robot="panda", url="opc.tcp://127.0.0.1:4840",
                         pki=Path("pki/server"), policy="Basic256Sha256")
    url = server.start()        # an asyncio thread of its own; returns the bound URL
    ...
    server.stop()

The components run on their own control loop (a PyBullet world for the virtual controller, or
anything else that keeps the kind contracts); the server only uses their thread-safe API:
motion methods start goals, `state()` is read `publish_hz` times a second into the variables.
Commands: a method returns (CommandId, Error). An empty Error means the command runs; its
outcome appears in CommandStatus ([id, state]) and CommandMessage (written before it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua

from cellwright.api.geometry import Pose
from cellwright.api.loopthread import LoopThread
from cellwright.robots.arm import Arm
from cellwright.robots.component import Component, Lifecycle
from cellwright.robots.drivers.opcua import security, spec
from cellwright.robots.drivers.opcua.address_space import DeviceLayout, Namespaces, RobotNodes, add_robot, add_types
from cellwright.robots.errors import EStopActive, LimitViolation, MotionStopped, RobotError
from cellwright.robots.goal import Goal
from cellwright.robots.gripper import Gripper

log = logging.getLogger(__name__)
SERVER_URI = "urn:cellwright:virtual-controller"
START_TIMEOUT_S = 60.0


@dataclass
class _Commands:
    """One object's commands: the next id and the goal in progress."""

    prefix: str
    next_id: int = 1
    goal: Goal[Any] | None = None
    goal_id: int = 0


@dataclass
class _Values:
    """The last value written per variable, so only changes are written."""

    last: dict[ua.NodeId, Any] = field(default_factory=dict)


class RobotServer:
    """An OPC UA server for one robot: `arm` (a MotionDevice) and optionally `gripper`.

    Args:
        robot: the MotionDeviceSystem's browse name under DeviceSet.
        url: the endpoint to bind (`opc.tcp://127.0.0.1:0` picks a free port).
        pki: the server's PKI folder (security.py); unused with policy "None".
        policy: "Basic256Sha256" (SignAndEncrypt, clients trusted explicitly) or "None".
        publish_hz: how often state() is written into the variables.
    """

    def __init__(self, arm: Arm, gripper: Gripper | None, *, robot: str, url: str, pki: Path,
                 policy: str = "Basic256Sha256", publish_hz: float = 100.0) -> None:
        self.arm, self.gripper = arm, gripper
        self.robot, self.requested_url = robot, url
        self.pki, self.policy = pki, security.check_policy(policy)
        self.period_s = 1.0 / publish_hz
        self.url = ""
        self._async = LoopThread(f"opcua-server {robot}")
        self._server: Server | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._nodes: RobotNodes | None = None
        self._values = _Values()
        self._arm_commands = _Commands("")
        self._gripper_commands = _Commands("Gripper.")

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> str:
        """Build the address space, bind, start publishing; return the URL clients use."""
        self._async.start()
        self._async.run(self._start(), START_TIMEOUT_S)
        return self.url

    def stop(self) -> None:
        """Close every session and the socket, end the thread."""
        if self._async.running:
            self._async.run(self._stop(), START_TIMEOUT_S)
        self._async.stop(START_TIMEOUT_S)

    @property
    def certificate(self) -> Path:
        """The server's certificate (DER), for clients to trust."""
        return self.pki / "own" / "cert.der"

    async def _start(self) -> None:
        server = Server()
        await server.init()
        server.set_server_name(f"Cellwright virtual controller ({self.robot})")
        await server.set_application_uri(SERVER_URI)
        server.set_endpoint(self.requested_url)
        if self.policy == "None":
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        else:
            ident = await security.identity(self.pki, SERVER_URI, server=True)
            await server.load_certificate(str(ident.cert))
            await server.load_private_key(str(ident.key))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            server.set_certificate_validator(security.trusted_only(self.pki))
        ns = await add_types(server)
        arm_info = self.arm.info()
        layout = DeviceLayout(self.robot, self.arm.name.rpartition("/")[2], self.arm.model,
                              arm_info.joint_names, arm_info.frames, self.gripper is not None)
        self._nodes = await add_robot(server, ns, layout)
        await self._add_methods(server, ns)
        await server.start()
        socket = server.bserver._server.sockets[0] if server.bserver and server.bserver._server else None
        host, port = socket.getsockname()[:2] if socket else ("127.0.0.1", 0)
        self.url = f"opc.tcp://{host}:{port}"
        self._server = server
        await self._publish_static()
        self._publisher = asyncio.create_task(self._publish_loop())

    async def _stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
        if self._server is not None:
            await self._server.stop()

    # --- methods -----------------------------------------------------------------------
    async def _add_methods(self, server: Server, ns: Namespaces) -> None:
        assert self._nodes is not None
        cw = ns.cellwright
        device = server.get_node(self._nodes.device)
        started = [_arg("CommandId", ua.ObjectIds.UInt32, "0 if refused"),
                   _arg("Error", ua.ObjectIds.String, "empty if the command runs; else "
                        "'<ErrorClass>: what is wrong'")]
        double = ua.ObjectIds.Double
        await self._method(device, cw, "MoveJoints", self._move_joints,
                           [_arg("Positions", double, "one per axis, rad, in JointNames order", rank=1),
                            _arg("Speed", double, "fraction of the velocity limits, (0, 1]"),
                            _arg("Timeout", double, "s")], started)
        await self._method(device, cw, "MovePose", self._move_pose,
                           [_arg("Pose", double, "x, y, z (m, world frame), qx, qy, qz, qw", rank=1),
                            _arg("Frame", ua.ObjectIds.String, "a FrameNames entry; empty: the first"),
                            _arg("Speed", double, "fraction of the velocity limits, (0, 1]"),
                            _arg("Timeout", double, "s")], started)
        await self._method(device, cw, "Stop", self._stop_motion, [], [])
        await self._method(device, cw, "EmergencyStop", self._emergency_stop, [], [])
        await self._method(device, cw, "ResetEmergencyStop", self._reset_emergency_stop, [], [])
        if self._nodes.gripper is not None:
            gripper = server.get_node(self._nodes.gripper)
            await self._method(gripper, cw, "MoveGripper", self._move_gripper,
                               [_arg("Width", double, "m between the fingers, [0, Stroke]"),
                                _arg("Force", double, "N, (0, MaxForce]"),
                                _arg("Timeout", double, "s")], started)

    @staticmethod
    async def _method(node: Any, cw: int, name: str, handler: Callable[..., Awaitable[list[ua.Variant]]],
                      inputs: list[ua.Argument], outputs: list[ua.Argument]) -> None:
        async def unwrapped(parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant]:
            return await handler(parent, *(arg.Value for arg in args))

        await node.add_method(ua.NodeId(f"{node.nodeid.Identifier}.{name}", cw), ua.QualifiedName(name, cw),
                              unwrapped, inputs, outputs)

    async def _move_joints(self, _parent: ua.NodeId, positions: list[float], speed: float,
                           timeout_s: float) -> list[ua.Variant]:
        return await self._start_command(self._arm_commands, lambda: self.arm.move_joints(
            positions, speed=speed, timeout_s=timeout_s))

    async def _move_pose(self, _parent: ua.NodeId, pose: list[float], frame: str, speed: float,
                         timeout_s: float) -> list[ua.Variant]:
        def start() -> Goal[Any]:
            if len(pose) != 7:
                raise LimitViolation(f"Pose has {len(pose)} numbers; give x, y, z, qx, qy, qz, qw")
            target = Pose((pose[0], pose[1], pose[2]), (pose[3], pose[4], pose[5], pose[6]))
            return self.arm.move_pose(target, frame=frame or None, speed=speed, timeout_s=timeout_s)

        return await self._start_command(self._arm_commands, start)

    async def _move_gripper(self, _parent: ua.NodeId, width: float, force: float,
                            timeout_s: float) -> list[ua.Variant]:
        gripper = self.gripper
        assert gripper is not None
        return await self._start_command(self._gripper_commands, lambda: gripper.move(
            width, force_n=force, timeout_s=timeout_s))

    async def _stop_motion(self, _parent: ua.NodeId) -> list[ua.Variant]:
        """Halt the motion in progress; no latch here (the client's component keeps it)."""
        for component in self._components():
            component.stop()
            component.resume()
        return []

    async def _emergency_stop(self, _parent: ua.NodeId) -> list[ua.Variant]:
        for component in self._components():
            component.estop()
        return []

    async def _reset_emergency_stop(self, _parent: ua.NodeId) -> list[ua.Variant]:
        for component in self._components():
            component.reset_estop()
            component.resume()
        return []

    def _components(self) -> list[Component]:
        return [c for c in (self.arm, self.gripper) if c is not None]

    async def _start_command(self, commands: _Commands, start: Callable[[], Goal[Any]]) -> list[ua.Variant]:
        try:
            goal = start()
        except RobotError as exc:
            return _started(0, f"{type(exc).__name__}: {exc}")
        except (TypeError, ValueError) as exc:
            return _started(0, f"LimitViolation: {exc}")
        command_id, commands.next_id = commands.next_id, commands.next_id + 1
        commands.goal, commands.goal_id = goal, command_id
        await self._write_status(commands, spec.CommandState.RUNNING, "", command_id)
        return _started(command_id, "")

    # --- publishing --------------------------------------------------------------------
    async def _publish_static(self) -> None:
        if self.gripper is not None:
            info = self.gripper.info()
            await self._write("Gripper.Stroke", info.stroke_m)
            await self._write("Gripper.MaxForce", info.max_force_n)

    async def _publish_loop(self) -> None:
        heartbeat = 0
        while True:
            try:
                heartbeat += 1
                await self._publish(heartbeat)
            except Exception:  # a failed write must not end the publishing
                log.exception("publishing the robot's state failed")
            await asyncio.sleep(self.period_s)

    async def _publish(self, heartbeat: int) -> None:
        nodes = self._nodes
        assert nodes is not None
        state = self.arm.state()
        for node, value in zip(nodes.positions, state.position, strict=True):
            await self._write_node(node, float(value))
        for node, value in zip(nodes.speeds, state.velocity, strict=True):
            await self._write_node(node, float(value))
        await self._write("JointEfforts", [float(v) for v in state.effort])
        frames = self.arm.info().frames
        await self._write("FramePoses", [float(v) for name in frames for v in
                                         (*state.frames[name].position, *state.frames[name].orientation)])
        await self._write("SpeedOverride", 100.0 * self.arm.speed_override)
        await self._write("InControl", self.arm.lifecycle is Lifecycle.ACTIVE)
        await self._write("OnPath", self.arm.goal is not None)
        await self._write("EmergencyStop", self.arm.estopped)
        await self._write("ProtectiveStop", self.arm.speed_override == 0.0)
        await self._finish(self._arm_commands)
        if self.gripper is not None:
            gripper = self.gripper.state()
            await self._write("Gripper.Width", float(gripper.width_m))
            await self._write("Gripper.Holding", bool(gripper.holding))
            await self._finish(self._gripper_commands)
        await self._write("Heartbeat", ua.Variant(heartbeat % 2**32, ua.VariantType.UInt32))

    async def _finish(self, commands: _Commands) -> None:
        goal = commands.goal
        if goal is None or not goal.done():
            return
        commands.goal = None
        error = goal.error()
        if error is None:
            await self._write_status(commands, spec.CommandState.SUCCEEDED, "", commands.goal_id)
            return
        stopped = isinstance(error, EStopActive | MotionStopped)
        await self._write_status(commands, spec.CommandState.STOPPED if stopped else spec.CommandState.FAILED,
                                 f"{type(error).__name__}: {error}", commands.goal_id)

    async def _write_status(self, commands: _Commands, state: spec.CommandState, message: str,
                            command_id: int) -> None:
        prefix = commands.prefix
        await self._write(prefix + "CommandMessage", message)
        await self._write(prefix + "CommandStatus", ua.Variant([command_id, int(state)], ua.VariantType.UInt32))

    async def _write(self, name: str, value: Any) -> None:
        assert self._nodes is not None
        await self._write_node(self._nodes.values[name], value)

    async def _write_node(self, node: ua.NodeId, value: Any) -> None:
        plain = value.Value if isinstance(value, ua.Variant) else value
        if self._values.last.get(node) == plain:
            return
        self._values.last[node] = plain
        assert self._server is not None
        variant = value if isinstance(value, ua.Variant) else ua.Variant(value)
        await self._server.write_attribute_value(node, ua.DataValue(variant))


def _arg(name: str, data_type: int, description: str, rank: int = -1) -> ua.Argument:
    argument = ua.Argument()
    argument.Name, argument.DataType, argument.ValueRank = name, ua.NodeId(data_type), rank
    argument.ArrayDimensions = [0] if rank == 1 else []
    argument.Description = ua.LocalizedText(description)
    return argument


def _started(command_id: int, error: str) -> list[ua.Variant]:
    return [ua.Variant(command_id, ua.VariantType.UInt32), ua.Variant(error, ua.VariantType.String)]

