"""The Unitree G1 humanoid (29 dof, optionally with Dex3 hands): facts shared by every
driver of it.

The model files come from `example-robot-data` (installed with Cellwright, nothing downloads
at run time): `g1_29dof_rev_1_0.urdf` (rubber hands, 29 joints, 33.3 kg) and
`g1_29dof_with_hand_rev_1_0.urdf` (Dex3 three-finger hands, 43 joints). Joint position,
velocity and effort limits are the URDF's; masses and inertias are the URDF's, except the
four sensor frames (IMUs, camera, lidar) that have no `<inertial>`: the patched copy gives
them a negligible mass so a simulator does not invent 1 kg each.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import tempfile
from pathlib import Path

from cellwright.api.geometry import FloatArray
from cellwright.robots.arm import JointLimits
from cellwright.robots.models.urdf import joint_limits

MODEL = "unitree_g1"
DISTRIBUTION = "example-robot-data"
PACKAGE_PREFIX = "package://example-robot-data/robots/"
URDF_FILES = {False: "g1_29dof_rev_1_0.urdf", True: "g1_29dof_with_hand_rev_1_0.urdf"}
SIDES = ("left", "right")
LEG_JOINTS = {side: tuple(f"{side}_{j}_joint" for j in (
    "hip_pitch", "hip_roll", "hip_yaw", "knee", "ankle_pitch", "ankle_roll")) for side in SIDES}
WAIST_JOINTS = ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
ARM_JOINTS = {side: tuple(f"{side}_{j}_joint" for j in (
    "shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist_roll", "wrist_pitch",
    "wrist_yaw")) for side in SIDES}
HAND_JOINTS = {side: tuple(f"{side}_hand_{j}_joint" for j in (
    "thumb_0", "thumb_1", "thumb_2", "middle_0", "middle_1", "index_0", "index_1"))
    for side in SIDES}
FOOT_LINKS = {side: f"{side}_ankle_roll_link" for side in SIDES}
HAND_LINKS = {False: {side: f"{side}_rubber_hand" for side in SIDES},
              True: {side: f"{side}_hand_palm_link" for side in SIDES}}
PELVIS_LINK = "pelvis"
SENSOR_LINKS = ("imu_in_torso", "imu_in_pelvis", "d435_link", "mid360_link")
SENSOR_MASS_KG = 1e-3
"""The mass given to the sensor frames that have none (PyBullet would make it 1 kg)."""


_NUMBER = {"type": "number"}
CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "hands": {"type": "boolean", "default": True,
                  "description": "Dex3 three-finger hands (needed to pick totes); false: rubber "
                                 "hands, no grip"},
        "walking": {"type": "string", "enum": ["dynamic", "guided"],
                    "description": "walking tier: dynamic (balance of its own, the default) or "
                                   "guided (the pelvis driven by a reported constraint)"},
        "max_speed_m_s": {**_NUMBER, "description": "walking speed at speed 1, m/s (<= 1)"},
        "max_turn_rad_s": {**_NUMBER, "description": "turn rate while walking, rad/s"},
        "margin_floor_m": {**_NUMBER, "description": "stability margin below which motion "
                                                     "fails `unstable`, m"},
        "margin_debounce_s": {**_NUMBER, "description": "how long below the floor, s"},
        "fall_height_m": {**_NUMBER, "description": "pelvis height below which it has fallen"},
        "workspace": {"type": "array", "items": _NUMBER, "minItems": 4, "maxItems": 4,
                      "description": "x_min, y_min, x_max, y_max it may walk to, m"},
        "guide_max_force_n": {**_NUMBER, "description": "guided tier's constraint force bound"},
    },
}
"""A cell config's entry for a G1 (docs/humanoids.md)."""


class ModelDataMissing(RuntimeError):
    """The `example-robot-data` package is not installed."""


@functools.cache
def data_root() -> Path:
    """The folder `robots/` of the installed example-robot-data.

    Raises:
        ModelDataMissing: the package is not installed (it is a dependency of Cellwright:
            reinstall with `pip install cellwright`).
    """
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelDataMissing(f"the G1 model needs the {DISTRIBUTION} package; install it "
                               f"with `pip install {DISTRIBUTION}` (a Cellwright dependency)") from None
    root = Path(str(dist.locate_file("cmeel.prefix/share/example-robot-data/robots")))
    if not root.is_dir():
        raise ModelDataMissing(f"{DISTRIBUTION} is installed but {root} is missing; reinstall it")
    return root


def original_urdf(hands: bool = False) -> Path:
    """The URDF as shipped (mesh paths `package://`): for Pinocchio, which takes the
    package folder (`package_dirs()`)."""
    return data_root() / "g1_description" / "urdf" / URDF_FILES[hands]


def package_dirs() -> list[str]:
    """Where `package://example-robot-data/...` resolves, for Pinocchio's URDF parser."""
    return [str(data_root().parent.parent)]


@functools.cache
def simulator_urdf(hands: bool = False) -> Path:
    """A patched copy for simulators (written once per process to a temporary folder):
    absolute mesh paths, and the inertia-less sensor frames given `SENSOR_MASS_KG`."""
    text = original_urdf(hands).read_text()
    text = text.replace(PACKAGE_PREFIX, f"{data_root()}/")
    for link in SENSOR_LINKS:
        inertial = (f'<link name="{link}"><inertial><origin xyz="0 0 0" rpy="0 0 0"/>'
                    f'<mass value="{SENSOR_MASS_KG}"/><inertia ixx="1e-9" ixy="0" ixz="0" '
                    f'iyy="1e-9" iyz="0" izz="1e-9"/></inertial>')
        text, count = re.subn(rf'<link\s+name="{link}"\s*>', inertial, text)
        text, empty = re.subn(rf'<link\s+name="{link}"\s*/>', inertial + "</link>", text)
        if count + empty != 1:
            raise ModelDataMissing(f"{original_urdf(hands)}: expected one link {link!r}")
    folder = Path(tempfile.mkdtemp(prefix="cellwright-g1-"))
    path = folder / URDF_FILES[hands]
    path.write_text(text)
    return path


def limits(joints: tuple[str, ...], hands: bool = False) -> tuple[JointLimits, FloatArray]:
    """The joints' position and velocity limits and their effort limits (N m), from the URDF."""
    return joint_limits(str(original_urdf(hands)), joints)
