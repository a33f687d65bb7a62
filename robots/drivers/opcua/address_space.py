"""Build the OPC 40010 types and one robot's instance in an asyncua server's address space.

    namespaces = await add_types(server)                 # DI and Robotics types, our enums
    nodes = await add_robot(server, namespaces, layout)  # DeviceSet/<robot> with its axes

Types get the NodeIds of the official NodeSet2 files (`spec.OBJECT_TYPES`); instances live in
our namespace with readable string NodeIds (`<robot>.MotionDevices.<device>...`). The methods
are added by `server.py`, which binds them to the components.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import Node, Server, ua

from cellwright.robots.drivers.opcua import spec

_BASE_OBJECT = ua.NodeId(ua.ObjectIds.BaseObjectType)
_FOLDER = ua.NodeId(ua.ObjectIds.FolderType)
_ANALOG_UNIT = ua.NodeId(ua.ObjectIds.AnalogUnitType)
_UNITS = {"rad": ("radian", "rad", 4874564), "rad/s": ("radian per second", "rad/s", 4534832),
          "m": ("metre", "m", 5067858), "N": ("newton", "N", 4804168)}
"""UNECE codes (C81, 2A, MTR, NEW) as OPC UA UnitIds, for EngineeringUnits."""


@dataclass(frozen=True)
class Namespaces:
    di: int
    robotics: int
    cellwright: int

    def robotics_id(self, number: int) -> ua.NodeId:
        return ua.NodeId(number, self.robotics)

    def name(self, browse_name: str) -> ua.QualifiedName:
        """A browse name of the standard, in DI's or Robotics' namespace as the spec puts it."""
        return ua.QualifiedName(browse_name, self.di if browse_name in spec.DI_NAMES else self.robotics)


@dataclass(frozen=True)
class DeviceLayout:
    """What to serve: a motion device system `robot` with one motion device `device`."""

    robot: str
    device: str
    model: str
    joints: tuple[str, ...]
    frames: tuple[str, ...]
    gripper: bool
    manufacturer: str = "Cellwright"
    serial_number: str = "virtual"


@dataclass
class RobotNodes:
    """The NodeIds a server writes and a client subscribes to."""

    device: ua.NodeId
    positions: list[ua.NodeId] = field(default_factory=list)
    speeds: list[ua.NodeId] = field(default_factory=list)
    values: dict[str, ua.NodeId] = field(default_factory=dict)
    """Our namespace's and the safety state's variables by name (`CommandStatus`,
    `EmergencyStop`, `Gripper.Width` ...)."""
    gripper: ua.NodeId | None = None


async def add_types(server: Server) -> Namespaces:
    """Register the namespaces and build DI's ComponentType and the Robotics types."""
    ns = Namespaces(await server.register_namespace(spec.DI_URI),
                    await server.register_namespace(spec.ROBOTICS_URI),
                    await server.register_namespace(spec.CELLWRIGHT_URI))
    base = server.nodes.base_object_type
    topology = await base.add_object_type(ua.NodeId(spec.DI_TOPOLOGY_ELEMENT_TYPE, ns.di),
                                          ua.QualifiedName("TopologyElementType", ns.di))
    component = await topology.add_object_type(ua.NodeId(spec.DI_COMPONENT_TYPE, ns.di),
                                               ua.QualifiedName("ComponentType", ns.di))
    await server.nodes.objects.add_object(ua.NodeId(spec.DI_DEVICE_SET, ns.di),
                                          ua.QualifiedName("DeviceSet", ns.di))
    enums = {}
    for name, number in spec.DATA_TYPES.items():
        members = {"OperationalModeEnumeration": spec.OperationalMode,
                   "AxisMotionProfileEnumeration": spec.AxisMotionProfile,
                   "MotionDeviceCategoryEnumeration": spec.MotionDeviceCategory}[name]
        enums[name] = await _add_enum(server, ns, number, name, [m.name for m in members])
    for name, number in spec.REFERENCE_TYPES.items():
        await server.get_node(ua.ObjectIds.HierarchicalReferences).add_reference_type(
            ns.robotics_id(number), ua.QualifiedName(name, ns.robotics), symmetric=False)
    types: dict[str, Node] = {}
    for name, number in spec.OBJECT_TYPES.items():
        parent = base if name in spec.BASE_OBJECT_TYPES else component
        types[name] = await parent.add_object_type(ns.robotics_id(number),
                                                   ua.QualifiedName(name, ns.robotics))
    for type_name, path, number, node_class, data_type, mandatory in spec.DECLARATIONS:
        *parents, leaf = path.split("/")
        parent = types[type_name]
        for step in parents:
            parent = await parent.get_child(ns.name(step))
        node = await _declare(parent, ns, ns.robotics_id(number), leaf, node_class,
                              enums.get(data_type) or _builtin(data_type))
        await node.set_modelling_rule(mandatory)
    return ns


async def _add_enum(server: Server, ns: Namespaces, number: int, name: str, members: list[str]
                    ) -> ua.NodeId:
    enum_type = await server.nodes.enum_data_type.add_data_type(ns.robotics_id(number),
                                                               ua.QualifiedName(name, ns.robotics))
    definition = ua.EnumDefinition()
    definition.Fields = [ua.EnumField(Name=m, Value=i, DisplayName=ua.LocalizedText(m))
                         for i, m in enumerate(members)]
    await enum_type.write_data_type_definition(definition)
    await enum_type.add_property(ua.NodeId(NamespaceIndex=ns.robotics), "EnumStrings",
                                 [ua.LocalizedText(m) for m in members])
    return enum_type.nodeid


def _builtin(data_type: str) -> ua.NodeId:
    return ua.NodeId(getattr(ua.ObjectIds, data_type)) if data_type else ua.NodeId()


def _default(data_type: ua.NodeId) -> ua.Variant:
    kinds = {ua.ObjectIds.Boolean: (False, ua.VariantType.Boolean),
             ua.ObjectIds.Double: (0.0, ua.VariantType.Double),
             ua.ObjectIds.String: ("", ua.VariantType.String),
             ua.ObjectIds.LocalizedText: (ua.LocalizedText(""), ua.VariantType.LocalizedText)}
    value, kind = kinds.get(data_type.Identifier, (0, ua.VariantType.Int32)) \
        if data_type.NamespaceIndex == 0 else (0, ua.VariantType.Int32)
    return ua.Variant(value, kind)


async def _declare(parent: Node, ns: Namespaces, nodeid: ua.NodeId, name: str, node_class: str,
                   data_type: ua.NodeId) -> Node:
    qname = ns.name(name)
    if node_class in ("folder", "object"):
        return await parent.add_object(nodeid, qname, _FOLDER if node_class == "folder" else _BASE_OBJECT)
    if node_class == "property":
        return await parent.add_property(nodeid, qname, _default(data_type), datatype=data_type)
    if node_class == "analog":
        node = await parent.add_variable(nodeid, qname, _default(data_type), datatype=data_type)
        type_definition = ua.NodeId(ua.ObjectIds.HasTypeDefinition)
        await node.delete_reference(ua.NodeId(ua.ObjectIds.BaseDataVariableType), type_definition,
                                    bidirectional=False)
        await node.add_reference(_ANALOG_UNIT, type_definition, bidirectional=False)
        units = await node.add_property(ua.NodeId(NamespaceIndex=ns.robotics), "EngineeringUnits",
                                        ua.EUInformation(), datatype=ua.NodeId(ua.ObjectIds.EUInformation))
        await units.set_modelling_rule(True)
        return node
    return await parent.add_variable(nodeid, qname, _default(data_type), datatype=data_type)


async def add_robot(server: Server, ns: Namespaces, layout: DeviceLayout) -> RobotNodes:
    """DeviceSet/<robot> (MotionDeviceSystemType) with one MotionDevice, its Axes, a
    Controller, a SafetyState, and our namespace's status variables (methods: server.py)."""
    cw = ns.cellwright
    device_set = server.get_node(ua.NodeId(spec.DI_DEVICE_SET, ns.di))
    system = await device_set.add_object(ua.NodeId(layout.robot, cw), ua.QualifiedName(layout.robot, cw),
                                         ns.robotics_id(spec.OBJECT_TYPES["MotionDeviceSystemType"]))
    motion_devices = await system.get_child(ns.name("MotionDevices"))
    device = await motion_devices.add_object(
        ua.NodeId(f"{layout.robot}.{layout.device}", cw), ua.QualifiedName(layout.device, cw),
        ns.robotics_id(spec.OBJECT_TYPES["MotionDeviceType"]))
    await _write(device, ns, "Manufacturer", ua.LocalizedText(layout.manufacturer))
    await _write(device, ns, "Model", ua.LocalizedText(layout.model))
    await _write(device, ns, "ProductCode", layout.model)
    await _write(device, ns, "SerialNumber", layout.serial_number)
    await _write(device, ns, "MotionDeviceCategory",
                 ua.Variant(int(spec.MotionDeviceCategory.ARTICULATED_ROBOT), ua.VariantType.Int32))
    nodes = RobotNodes(device.nodeid)
    parameters = await device.get_child(ns.name("ParameterSet"))
    for name in ("SpeedOverride", "OnPath", "InControl"):
        nodes.values[name] = (await parameters.get_child(ns.name(name))).nodeid
    axes = await device.get_child(ns.name("Axes"))
    trains = await device.get_child(ns.name("PowerTrains"))
    for joint in layout.joints:
        axis = await axes.add_object(ua.NodeId(f"{device.nodeid.Identifier}.Axes.{joint}", cw),
                                     ua.QualifiedName(joint, cw),
                                     ns.robotics_id(spec.OBJECT_TYPES["AxisType"]))
        await _write(axis, ns, "MotionProfile", ua.Variant(int(spec.AxisMotionProfile.ROTARY),
                                                           ua.VariantType.Int32))
        axis_parameters = await axis.get_child(ns.name("ParameterSet"))
        for name, unit, ids in (("ActualPosition", "rad", nodes.positions),
                                ("ActualSpeed", "rad/s", nodes.speeds)):
            variable = await axis_parameters.get_child(ns.name(name))
            await _set_unit(variable, unit)
            ids.append(variable.nodeid)
        train = await trains.add_object(ua.NodeId(f"{device.nodeid.Identifier}.PowerTrains.{joint}", cw),
                                        ua.QualifiedName(f"{joint}_powertrain", cw),
                                        ns.robotics_id(spec.OBJECT_TYPES["PowerTrainType"]))
        await train.add_reference(axis.nodeid, ns.robotics_id(spec.REFERENCE_TYPES["Moves"]))
        await axis.add_reference(train.nodeid, ns.robotics_id(spec.REFERENCE_TYPES["IsDrivenBy"]))
    await _add_controller(system, ns, layout, device.nodeid)
    await _add_safety_state(system, ns, layout, nodes)
    await _add_status(device, cw, nodes, "")
    await _add_variable(device, cw, nodes, "JointNames", list(layout.joints), ua.VariantType.String)
    await _add_variable(device, cw, nodes, "FrameNames", list(layout.frames), ua.VariantType.String)
    await _add_variable(device, cw, nodes, "FramePoses", [0.0] * 7 * len(layout.frames),
                        ua.VariantType.Double)
    await _add_variable(device, cw, nodes, "JointEfforts", [0.0] * len(layout.joints),
                        ua.VariantType.Double)
    await _add_variable(device, cw, nodes, "Heartbeat", 0, ua.VariantType.UInt32)
    if layout.gripper:
        folder = await device.get_child(ns.name("AdditionalComponents"))
        gripper = await folder.add_object(ua.NodeId(f"{device.nodeid.Identifier}.Gripper", cw),
                                          ua.QualifiedName("Gripper", cw))
        nodes.gripper = gripper.nodeid
        await _add_status(gripper, cw, nodes, "Gripper.")
        await _add_variable(gripper, cw, nodes, "Width", 0.0, ua.VariantType.Double, "Gripper.", "m")
        await _add_variable(gripper, cw, nodes, "Holding", False, ua.VariantType.Boolean, "Gripper.")
        await _add_variable(gripper, cw, nodes, "Stroke", 0.0, ua.VariantType.Double, "Gripper.", "m")
        await _add_variable(gripper, cw, nodes, "MaxForce", 0.0, ua.VariantType.Double, "Gripper.", "N")
    return nodes


async def _add_controller(system: Node, ns: Namespaces, layout: DeviceLayout, device: ua.NodeId) -> None:
    controllers = await system.get_child(ns.name("Controllers"))
    controller = await controllers.add_object(
        ua.NodeId(f"{layout.robot}.Controllers.controller", ns.cellwright),
        ua.QualifiedName("controller", ns.cellwright), ns.robotics_id(spec.OBJECT_TYPES["ControllerType"]))
    await _write(controller, ns, "Manufacturer", ua.LocalizedText(layout.manufacturer))
    await _write(controller, ns, "Model", ua.LocalizedText("cellwright virtual controller"))
    await _write(controller, ns, "ProductCode", "cellwright-virtual-controller")
    await _write(controller, ns, "SerialNumber", layout.serial_number)
    await controller.add_reference(device, ns.robotics_id(spec.REFERENCE_TYPES["Controls"]))


async def _add_safety_state(system: Node, ns: Namespaces, layout: DeviceLayout, nodes: RobotNodes) -> None:
    folder = await system.get_child(ns.name("SafetyStates"))
    state = await folder.add_object(ua.NodeId(f"{layout.robot}.SafetyStates.safety", ns.cellwright),
                                    ua.QualifiedName("safety", ns.cellwright),
                                    ns.robotics_id(spec.OBJECT_TYPES["SafetyStateType"]))
    await system.add_reference(state.nodeid, ns.robotics_id(spec.REFERENCE_TYPES["HasSafetyStates"]))
    parameters = await state.get_child(ns.name("ParameterSet"))
    for name in ("EmergencyStop", "ProtectiveStop", "OperationalMode"):
        nodes.values[name] = (await parameters.get_child(ns.name(name))).nodeid
    await _write(parameters, ns, "OperationalMode",
                       ua.Variant(int(spec.OperationalMode.AUTOMATIC), ua.VariantType.Int32))


async def _write(node: Node, ns: Namespaces, child: str, value: object) -> None:
    target = await node.get_child(ns.name(child))
    variant = value if isinstance(value, ua.Variant) else ua.Variant(value)
    await target.write_value(ua.DataValue(variant))


async def _set_unit(variable: Node, unit: str) -> None:
    name, symbol, unit_id = _UNITS[unit]
    units = ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                             UnitId=unit_id, DisplayName=ua.LocalizedText(symbol),
                             Description=ua.LocalizedText(name))
    try:
        await (await variable.get_child("0:EngineeringUnits")).write_value(units)
    except ua.UaError:
        await variable.add_property(ua.NodeId(f"{variable.nodeid.Identifier}.EngineeringUnits",
                                              variable.nodeid.NamespaceIndex),
                                    "EngineeringUnits", units)


async def _add_status(parent: Node, cw: int, nodes: RobotNodes, prefix: str) -> None:
    await _add_variable(parent, cw, nodes, "CommandMessage", "", ua.VariantType.String, prefix)
    await _add_variable(parent, cw, nodes, "CommandStatus", [0, int(spec.CommandState.IDLE)],
                        ua.VariantType.UInt32, prefix)


async def _add_variable(parent: Node, cw: int, nodes: RobotNodes, name: str, value: object,
                        kind: ua.VariantType, prefix: str = "", unit: str = "") -> None:
    variable = await parent.add_variable(ua.NodeId(f"{parent.nodeid.Identifier}.{name}", cw),
                                         ua.QualifiedName(name, cw), ua.Variant(value, kind))
    if unit:
        await _set_unit(variable, unit)
    nodes.values[prefix + name] = variable.nodeid
