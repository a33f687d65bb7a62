"""What the OPC UA side speaks: the Robotics companion specification (OPC 40010-1) and the
Device Integration model it builds on (OPC 10000-100), by their own namespace URIs, numeric
NodeIds and browse names, plus Cellwright's namespace for what OPC 40010 leaves out.

The NodeIds of the standard types are those of the official NodeSet2 files
(`Opc.Ua.Robotics.NodeSet2.xml`, `Opc.Ua.Di.NodeSet2.xml`), so a client that loads them finds
our types where the specification puts them; docs/drivers.md lists the address space.
Server (`server.py`), client (`link.py`) and the docs' tables all read this one module.
"""

from __future__ import annotations

import enum

DI_URI = "http://opcfoundation.org/UA/DI/"
ROBOTICS_URI = "http://opcfoundation.org/UA/Robotics/"
CELLWRIGHT_URI = "urn:cellwright:opcua:robot"
"""Our namespace: the motion commands and command status OPC 40010 does not define."""

# --- OPC 10000-100 (DI) ------------------------------------------------------------------------
DI_TOPOLOGY_ELEMENT_TYPE = 1001
DI_COMPONENT_TYPE = 15063
DI_DEVICE_SET = 5001
"""The `DeviceSet` object under `Objects`, where devices (our motion device systems) live."""

# --- OPC 40010-1 (Robotics): object types, with their NodeIds in the Robotics namespace --------
OBJECT_TYPES: dict[str, int] = {
    "MotionDeviceSystemType": 1002,
    "ControllerType": 1003,
    "MotionDeviceType": 1004,
    "SafetyStateType": 1013,
    "AxisType": 16601,
    "PowerTrainType": 16794,
    "EmergencyStopFunctionType": 17230,
    "ProtectiveStopFunctionType": 17233,
}
BASE_OBJECT_TYPES = ("EmergencyStopFunctionType", "ProtectiveStopFunctionType")
"""Subtypes of BaseObjectType; every other type here subtypes DI's ComponentType."""

REFERENCE_TYPES: dict[str, int] = {
    "Controls": 4002,         # Controller -> MotionDevice
    "Moves": 18178,           # PowerTrain -> Axis
    "IsDrivenBy": 18180,      # Axis -> PowerTrain
    "HasSafetyStates": 18182,  # MotionDeviceSystem -> SafetyState
}

DATA_TYPES: dict[str, int] = {
    "OperationalModeEnumeration": 3006,
    "AxisMotionProfileEnumeration": 3008,
    "MotionDeviceCategoryEnumeration": 18193,
}


class OperationalMode(enum.IntEnum):
    """OperationalModeEnumeration (OPC 40010-1, 7.1)."""

    OTHER = 0
    MANUAL_REDUCED_SPEED = 1
    MANUAL_HIGH_SPEED = 2
    AUTOMATIC = 3
    AUTOMATIC_EXTERNAL = 4


class MotionDeviceCategory(enum.IntEnum):
    """MotionDeviceCategoryEnumeration (OPC 40010-1, 7.3)."""

    OTHER = 0
    ARTICULATED_ROBOT = 1
    SCARA_ROBOT = 2
    CARTESIAN_ROBOT = 3
    SPHERICAL_ROBOT = 4
    PARALLEL_ROBOT = 5
    CYLINDRICAL_ROBOT = 6


class AxisMotionProfile(enum.IntEnum):
    """AxisMotionProfileEnumeration (OPC 40010-1, 7.2)."""

    OTHER = 0
    ROTARY = 1
    ROTARY_ENDLESS = 2
    LINEAR = 3
    LINEAR_ENDLESS = 4


# Instance declarations of the types that we build (the mandatory ones, and the optional ones we
# serve), as (type, path below the type, NodeId in the Robotics namespace, node class, data type).
# A path step's browse name is in the Robotics namespace unless it is in DI_NAMES. Node classes:
# "folder", "object" (BaseObjectType), "property", "variable" (BaseDataVariable), "analog"
# (AnalogUnitType, with EngineeringUnits). Placeholders (`<AxisIdentifier>` ...) are not declared:
# instances are added under the folders by name.
MANDATORY, OPTIONAL = True, False
DECLARATIONS: tuple[tuple[str, str, int, str, str, bool], ...] = (
    ("MotionDeviceSystemType", "Controllers", 5001, "folder", "", MANDATORY),
    ("MotionDeviceSystemType", "MotionDevices", 5002, "folder", "", MANDATORY),
    ("MotionDeviceSystemType", "SafetyStates", 5010, "folder", "", MANDATORY),
    ("MotionDeviceType", "Manufacturer", 16351, "property", "LocalizedText", MANDATORY),
    ("MotionDeviceType", "Model", 16353, "property", "LocalizedText", MANDATORY),
    ("MotionDeviceType", "ProductCode", 16359, "property", "String", MANDATORY),
    ("MotionDeviceType", "SerialNumber", 16354, "property", "String", MANDATORY),
    ("MotionDeviceType", "MotionDeviceCategory", 16362, "property",
     "MotionDeviceCategoryEnumeration", MANDATORY),
    ("MotionDeviceType", "ParameterSet", 5029, "object", "", MANDATORY),
    ("MotionDeviceType", "ParameterSet/SpeedOverride", 16365, "variable", "Double", MANDATORY),
    ("MotionDeviceType", "ParameterSet/OnPath", 16363, "variable", "Boolean", OPTIONAL),
    ("MotionDeviceType", "ParameterSet/InControl", 16364, "variable", "Boolean", OPTIONAL),
    ("MotionDeviceType", "Axes", 15305, "folder", "", MANDATORY),
    ("MotionDeviceType", "PowerTrains", 16443, "folder", "", MANDATORY),
    ("MotionDeviceType", "AdditionalComponents", 16566, "folder", "", OPTIONAL),
    ("AxisType", "MotionProfile", 16637, "property", "AxisMotionProfileEnumeration", MANDATORY),
    ("AxisType", "ParameterSet", 16602, "object", "", MANDATORY),
    ("AxisType", "ParameterSet/ActualPosition", 16662, "analog", "Double", MANDATORY),
    ("AxisType", "ParameterSet/ActualSpeed", 16668, "analog", "Double", OPTIONAL),
    ("ControllerType", "Manufacturer", 17237, "property", "LocalizedText", MANDATORY),
    ("ControllerType", "Model", 17239, "property", "LocalizedText", MANDATORY),
    ("ControllerType", "ProductCode", 17245, "property", "String", MANDATORY),
    ("ControllerType", "SerialNumber", 17240, "property", "String", MANDATORY),
    ("ControllerType", "Software", 15800, "folder", "", MANDATORY),
    ("ControllerType", "TaskControls", 15826, "folder", "", MANDATORY),
    ("SafetyStateType", "ParameterSet", 5016, "object", "", MANDATORY),
    ("SafetyStateType", "ParameterSet/EmergencyStop", 15882, "variable", "Boolean", MANDATORY),
    ("SafetyStateType", "ParameterSet/OperationalMode", 15912, "variable",
     "OperationalModeEnumeration", MANDATORY),
    ("SafetyStateType", "ParameterSet/ProtectiveStop", 15913, "variable", "Boolean", MANDATORY),
    ("SafetyStateType", "EmergencyStopFunctions", 17221, "folder", "", OPTIONAL),
    ("SafetyStateType", "ProtectiveStopFunctions", 17225, "folder", "", OPTIONAL),
    ("EmergencyStopFunctionType", "Name", 17231, "property", "String", MANDATORY),
    ("EmergencyStopFunctionType", "Active", 17232, "variable", "Boolean", MANDATORY),
    ("ProtectiveStopFunctionType", "Name", 17234, "property", "String", MANDATORY),
    ("ProtectiveStopFunctionType", "Enabled", 17235, "variable", "Boolean", MANDATORY),
    ("ProtectiveStopFunctionType", "Active", 17236, "variable", "Boolean", MANDATORY),
)
NOT_SERVED = ("ControllerType/CurrentUser (a UserType object): no users on a virtual controller",
              "the OperationStateMachine and TaskControl program model: motion is commanded "
              "through our namespace's methods instead")
"""Mandatory parts of OPC 40010-1 we do not serve (docs/drivers.md says so too)."""
DI_NAMES = frozenset({"ParameterSet", "Manufacturer", "Model", "SerialNumber", "ProductCode",
                      "DeviceSet"})


# --- Cellwright's namespace: per motion device ----------------------------------------------------
class CommandState(enum.IntEnum):
    """`CommandState` of a motion device or gripper: what its last command came to."""

    IDLE = 0
    RUNNING = 1
    SUCCEEDED = 2
    FAILED = 3
    STOPPED = 4


METHODS = ("MoveJoints", "MovePose", "MoveGripper", "Stop", "EmergencyStop", "ResetEmergencyStop")
"""Methods of our namespace on the motion device (`MoveGripper` on its gripper object)."""

STATUS_VARIABLES = ("CommandStatus", "CommandMessage")
"""`CommandStatus` (UInt32[2]) is the last command's id (its method returned it) and its
`CommandState`, in one value so they never tear; `CommandMessage` (why it failed) is written
before it, so a client that sees a final status has that command's message."""

ERROR_PREFIXES = ("LimitViolation", "Unreachable", "MotionTimeout", "CollisionDetected",
                  "MotionStopped", "EStopActive", "NotActive")
"""A failed command's `CommandMessage`, and a refused call's status text, start with the
name of the `cellwright.robots.errors` class and a colon."""
