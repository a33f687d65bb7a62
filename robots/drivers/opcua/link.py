"""One OPC UA session to a robot controller, shared by the robot's components.

The link finds the robot by browsing the OPC 40010 structure (DeviceSet / <robot> /
MotionDevices / <device> / Axes / <joint> / ParameterSet / ActualPosition ...) and our
namespace's variables and methods beside it, subscribes to every value it needs (no polling),
and keeps the latest values in a snapshot that the control loop thread reads. Calls go out
without blocking the caller (`call()` returns a future).

A link is lost when a request fails or no heartbeat arrives for `link_timeout_s`; `check()`
then raises NotActive with the reason, and `connect()` makes a new session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import Client, Node, ua
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from cellwright.api.loopthread import LoopThread
from cellwright.robots.drivers.opcua import security, spec
from cellwright.robots.errors import NotActive

log = logging.getLogger(__name__)
CLIENT_URI = "urn:cellwright:cell"


@dataclass(frozen=True)
class LinkConfig:
    """Where the controller is and how to talk to it (a cell config's robot entry)."""

    endpoint: str
    robot: str
    device: str
    joints: tuple[str, ...]
    policy: str = "Basic256Sha256"
    pki: Path = Path("pki/client")
    server_certificate: Path | None = None
    request_timeout_s: float = 2.0
    link_timeout_s: float = 1.0
    publish_ms: float = 10.0
    gripper: bool = False


@dataclass
class _Session:
    client: Client
    subscription: Any
    methods: dict[str, tuple[ua.NodeId, ua.NodeId]]
    """name -> (object, method)"""
    frames: tuple[str, ...]


class _Handler:
    """Subscription callbacks (asyncio thread): values into the link's snapshot, one publish
    at a time (asyncua calls back item by item; the batch is applied once they are all in, so
    the loop thread never sees half of one publish)."""

    def __init__(self, link: RobotLink, names: dict[ua.NodeId, str]) -> None:
        self._link, self._names = link, names
        self._batch: dict[str, Any] = {}

    def datachange_notification(self, node: Node, value: Any, _data: Any) -> None:
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch[self._names[node.nodeid]] = value

    def _flush(self) -> None:
        batch, self._batch = self._batch, {}
        self._link._update(batch)

    def status_change_notification(self, status: Any) -> None:
        code = getattr(status, "Status", status)
        self._link._lose(f"the subscription ended: {getattr(code, 'name', code)}")


class RobotLink:
    """A session to one controller, shared by the robot's components: each `connect(name)`s
    when it configures and `release(name)`s when it shuts down; the last one out closes it."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._heard = 0.0
        self._lost = ""
        self._session: _Session | None = None
        self._users: set[str] = set()
        self._async: LoopThread | None = None

    # --- lifecycle (control loop thread) -------------------------------------------------
    def connect(self, user: str) -> None:
        """Open a session for `user` (a new one if the last was lost): browse, subscribe, wait
        for the first values. Raises NotActive saying why it could not, within a bounded time."""
        with self._lock:
            self._users.add(user)
            if self._session is not None and not self._lost:
                return
        self._close_session()
        self._start_thread()
        bound = 4 * self.config.request_timeout_s + 2 * self.config.link_timeout_s
        future = self._submit(self._connect())
        try:
            future.result(bound)
        except NotActive:
            raise
        except Exception as exc:
            future.cancel()
            self._close_session()
            raise NotActive(f"cannot connect to {self.config.endpoint}: {_why(exc)}") from exc

    def release(self, user: str) -> None:
        """`user` is done; the last one closes the session and the thread."""
        with self._lock:
            self._users.discard(user)
            if self._users:
                return
        self._close_session()
        if self._async is not None:
            self._async.stop(5.0)
            self._async = None

    # --- any thread --------------------------------------------------------------------
    def check(self) -> None:
        """Raise NotActive if the link is lost (a failed request, or no heartbeat for
        `link_timeout_s`)."""
        with self._lock:
            lost = self._lost
            if not lost and self._session is not None:
                silent = time.monotonic() - self._heard
                if silent > self.config.link_timeout_s:
                    lost = self._lost = (f"no heartbeat from {self.config.endpoint} for {silent:.2f} s "
                                         f"(link_timeout_s {self.config.link_timeout_s})")
        if lost:
            raise NotActive(f"lost the OPC UA link: {lost}")
        if self._session is None:
            raise NotActive(f"not connected to {self.config.endpoint}")

    def values(self) -> dict[str, Any]:
        """The latest values by name (`positions[0]`, `speeds[0]`, `CommandStatus`, `Gripper.Width`...)."""
        with self._lock:
            return dict(self._values)

    @property
    def frames(self) -> tuple[str, ...]:
        return self._session.frames if self._session is not None else ()

    def call(self, method: str, *args: Any) -> concurrent.futures.Future[list[Any]]:
        """Call one of our namespace's methods (`MoveJoints` ...); never blocks. The future
        fails with NotActive if the call does."""
        return self._submit(self._call(method, args))

    # --- asyncio thread ------------------------------------------------------------------
    async def _connect(self) -> None:
        config = self.config
        client = Client(config.endpoint, timeout=config.request_timeout_s)
        client.application_uri = CLIENT_URI
        client.name = client.description = "Cellwright cell"
        if config.policy != "None":
            if config.server_certificate is None:
                raise NotActive(f"security policy {config.policy} needs the server's certificate "
                                f"(server_certificate: path to its own/cert.der)")
            ident = await security.identity(config.pki, CLIENT_URI, server=False)
            await client.set_security(SecurityPolicyBasic256Sha256, str(ident.cert), str(ident.key),
                                      server_certificate=str(config.server_certificate),
                                      mode=ua.MessageSecurityMode.SignAndEncrypt)
        await client.connect()
        try:
            names, methods, frames = await _browse(client, config)
            handler = _Handler(self, {node: name for name, node in names.items()
                                      if not isinstance(node, list)} |
                               {node: f"{name}[{i}]" for name, nodes in names.items()
                                if isinstance(nodes, list) for i, node in enumerate(nodes)})
            subscription = await client.create_subscription(config.publish_ms, handler)
            flat = [n for nodes in names.values() for n in (nodes if isinstance(nodes, list) else [nodes])]
            with self._lock:
                self._values, self._lost = {}, ""
                self._heard = time.monotonic()
            await subscription.subscribe_data_change([client.get_node(n) for n in flat])
            await self._first_values(len(flat))
        except BaseException:
            await client.disconnect()
            raise
        self._session = _Session(client, subscription, methods, frames)

    async def _first_values(self, count: int) -> None:
        """Wait until every subscribed value has arrived once (NotActive after the link timeout)."""
        deadline = time.monotonic() + self.config.link_timeout_s + self.config.request_timeout_s
        while True:
            with self._lock:
                missing = count - len(self._values)
            if missing <= 0:
                return
            if time.monotonic() > deadline:
                raise NotActive(f"{self.config.endpoint} sent {count - missing} of the robot's {count} "
                                f"values after subscribing; is the controller publishing?")
            await asyncio.sleep(self.config.publish_ms / 1000.0)

    async def _call(self, method: str, args: tuple[Any, ...]) -> list[Any]:
        session = self._session
        if session is None:
            raise NotActive(f"not connected to {self.config.endpoint}")
        parent, node = session.methods[method]
        try:
            result = await session.client.get_node(parent).call_method(node, *args)
        except Exception as exc:
            self._lose(f"{method} failed: {_why(exc)}")
            raise NotActive(f"{method} on {self.config.endpoint} failed: {_why(exc)}") from exc
        return list(result) if isinstance(result, list) else [] if result is None else [result]

    def _update(self, batch: dict[str, Any]) -> None:
        with self._lock:
            self._values.update(batch)
            if "Heartbeat" in batch:
                self._heard = time.monotonic()

    def _lose(self, why: str) -> None:
        """Mark the link lost (asyncio thread) and drop the session, so its client stops
        publishing into a dead socket; `connect()` makes a new one."""
        with self._lock:
            if self._session is None or self._lost:
                return
            self._lost = why
            session = self._session
        asyncio.get_running_loop().create_task(_quietly_disconnect(session.client))

    # --- plumbing ----------------------------------------------------------------------
    def _start_thread(self) -> None:
        if self._async is None:
            self._async = LoopThread(f"opcua-link {self.config.endpoint}")
            self._async.start()

    def _submit(self, coroutine: Any) -> concurrent.futures.Future[Any]:
        if self._async is None:
            coroutine.close()
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_exception(NotActive(f"not connected to {self.config.endpoint}"))
            return future
        return self._async.submit(coroutine)

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._async is not None:
            try:
                self._submit(_quietly_disconnect(session.client)).result(self.config.request_timeout_s + 1.0)
            except concurrent.futures.TimeoutError:
                log.info("closing the OPC UA session to %s took too long", self.config.endpoint)


async def _browse(client: Client, config: LinkConfig
                  ) -> tuple[dict[str, Any], dict[str, tuple[ua.NodeId, ua.NodeId]], tuple[str, ...]]:
    """Find the robot's nodes by the OPC 40010 structure, in a few batched requests (a slow
    link costs a round trip each); NotActive if it is not as expected."""
    uris = list(await client.get_namespace_array())
    missing = [uri for uri in (spec.DI_URI, spec.ROBOTICS_URI, spec.CELLWRIGHT_URI) if uri not in uris]
    if missing:
        raise NotActive(f"{config.endpoint} serves no namespace {missing}: not an OPC 40010 robot "
                        f"controller with Cellwright's methods (docs/drivers.md)")
    di, robotics, cw = (uris.index(u) for u in (spec.DI_URI, spec.ROBOTICS_URI, spec.CELLWRIGHT_URI))

    def std(name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, di if name in spec.DI_NAMES else robotics)

    def ours(name: str) -> ua.QualifiedName:
        return ua.QualifiedName(name, cw)

    device_set = await client.nodes.objects.get_child(std("DeviceSet"))
    system = await _child_named(client, device_set.nodeid, config.robot, "DeviceSet")
    motion_devices = await client.get_node(system).get_child(std("MotionDevices"))
    device = await _child_named(client, motion_devices.nodeid, config.device, f"{config.robot}/MotionDevices")
    axes = await client.get_node(device).get_child(std("Axes"))
    axis_names = {d.BrowseName.Name: d.BrowseName for d in await axes.get_children_descriptions()}
    absent = [j for j in config.joints if j not in axis_names]
    if absent:
        raise NotActive(f"the controller has no axes {absent} under {config.device}/Axes; it has {sorted(axis_names)}")
    axis_paths = [[axis_names[j], std("ParameterSet"), std(leaf)] for leaf in ("ActualPosition", "ActualSpeed")
                  for j in config.joints]
    found = await _paths(axes, axis_paths)
    count = len(config.joints)
    names: dict[str, Any] = {"positions": found[:count], "speeds": found[count:]}
    variables = ["CommandStatus", "CommandMessage", "JointEfforts", "FramePoses", "Heartbeat"]
    methods = ["MoveJoints", "MovePose", "Stop", "EmergencyStop", "ResetEmergencyStop"]
    own = [*variables, *methods, "FrameNames"]
    by_name = dict(zip(own, await _paths(client.get_node(device), [[ours(n)] for n in own]), strict=True))
    names |= {n: by_name[n] for n in variables}
    calls = {n: (device, by_name[n]) for n in methods}
    if config.gripper:
        folder = [std("AdditionalComponents"), ours("Gripper")]
        items = ["CommandStatus", "CommandMessage", "Width", "Holding", "MoveGripper"]
        gripper, *found_items = await _paths(client.get_node(device), [folder, *([*folder, ours(n)] for n in items)])
        gripper_nodes = dict(zip(items, found_items, strict=True))
        names |= {f"Gripper.{n}": gripper_nodes[n] for n in items[:-1]}
        calls["MoveGripper"] = (gripper, gripper_nodes["MoveGripper"])
    safety_states = await client.get_node(system).get_child(std("SafetyStates"))
    safety = (await safety_states.get_children_descriptions())[0].BrowseName
    names |= dict(zip(("EmergencyStop", "ProtectiveStop"), await _paths(safety_states, [
        [safety, std("ParameterSet"), std(n)] for n in ("EmergencyStop", "ProtectiveStop")]), strict=True))
    frames = tuple(await client.get_node(by_name["FrameNames"]).read_value())
    return names, calls, frames


async def _paths(start: Node, paths: list[list[ua.QualifiedName]]) -> list[ua.NodeId]:
    """The node at each browse path from `start`, in one request; NotActive naming a missing one."""
    results = await start.get_children_by_path(paths, raise_on_partial_error=False)
    for path, result in zip(paths, results, strict=True):
        if not result:
            raise NotActive(f"the controller serves no {'/'.join(q.Name for q in path)} "
                            f"(docs/drivers.md lists the address space)")
    return [result[0].nodeid for result in results if result]


async def _child_named(client: Client, parent: ua.NodeId, name: str, where: str) -> ua.NodeId:
    children = await client.get_node(parent).get_children_descriptions()
    for child in children:
        if child.BrowseName.Name == name:
            return child.NodeId
    found = [c.BrowseName.Name for c in children]
    raise NotActive(f"the controller has no {name!r} under {where}; it has {found}")


async def _quietly_disconnect(client: Client) -> None:
    try:
        await client.disconnect()
    except Exception as exc:  # the peer is gone; there is nothing left to close on its side
        log.debug("disconnecting a lost OPC UA session: %s", _why(exc))


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
