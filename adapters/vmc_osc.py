"""VMC protocol sink (OSC over UDP): one avatar app port per person.

Per person per frame, in this order (each group packed into immediate bundles
no larger than the MTU allows, so a group may span several datagrams):
  1. /VMC/Ext/Root/Pos "root" px py pz qx qy qz qw, then /VMC/Ext/Bone/Pos <bone> px py pz qx qy qz qw
     for every mapped bone (parents first)
  2. /VMC/Ext/Blend/Val <ARKit PascalCase name> value for the 52 shapes, then /VMC/Ext/Blend/Apply
  3. /VMC/Ext/OK 1 and /VMC/Ext/T <seconds since the session's first frame>

Space. The BVH template is right-handed: Y up, the character faces +Z, its
left is +X, centimetres. Unity is left-handed: Y up, the character faces +Z,
its left is -X, metres. So Unity = S * template with S = diag(-1, 1, 1) (mirror
X, keep the facing): positions (x, y, z) -> (-x, y, z) / units_per_metre and
rotation matrices R -> S R S, which for quaternions is (x, y, z, w) -> (x, -y, -z, w).
Example: the left arm raised 90 degrees is Rz(+90) in the template (+X to +Y),
quaternion (0, 0, 0.7071, 0.7071); in Unity it is (0, 0, -0.7071, 0.7071),
which turns Unity's left (-X) to up.

Root and bones. The root is the world transform of the avatar: the hips'
ground point (x, 0, z) and heading (yaw about Y). Bones are LOCAL to their
mapped parent bone (the Hips to the root), rotation and position. Rest pose:
identity rotations are the template's T-pose, which is what a VRM-normalised
avatar's identity pose is. Joints of the template that the retarget map
leaves out are folded into their mapped children.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from pythonosc.parsing import osc_types

from dyad.adapters.sink_spec import SinkSpec, SinkTarget
from dyad.adapters.udp_target import UdpTarget
from dyad.models.arkit import ARKIT_NAMES, NUM_ARKIT
from dyad.models.pose import global_transforms, yaw_matrix, yaw_of
from dyad.models.rotations import matrix_to_quaternion
from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import FrameBundle, Sink

DEFAULT_PORT = 39539
DEFAULT_MTU = 1500
DEFAULT_RETARGET = "assets/humanoid_vmc_retarget.json"
_MIRROR = np.array([-1.0, 1.0, 1.0])  # S = diag(-1, 1, 1)
_MIRROR_MATRIX = _MIRROR[:, None] * _MIRROR[None, :]  # S R S, element-wise
_FINGERS = tuple(f"{side}{finger}{part}" for side in ("Left", "Right")
                 for finger in ("Thumb", "Index", "Middle", "Ring", "Little")
                 for part in ("Proximal", "Intermediate", "Distal"))  # fmt: skip
UNITY_BONES = frozenset(
    ("Hips", "Spine", "Chest", "UpperChest", "Neck", "Head", "Jaw")
    + tuple(f"{side}{part}" for side in ("Left", "Right")
            for part in ("UpperLeg", "LowerLeg", "Foot", "Toes", "Shoulder", "UpperArm", "LowerArm", "Hand", "Eye"))
    + _FINGERS
)  # fmt: skip


IP_UDP_HEADER = 28  # IPv4 (20) + UDP (8) bytes that an MTU must also hold
_BUNDLE_HEAD = osc_types.write_string("#bundle") + osc_types.write_date(osc_types.IMMEDIATELY)


# OSC 1.0 from python-osc's type writers. Its message builders parse every
# message back after building it (~60 us each, ~110 messages per person per
# frame), so messages are assembled here: the constant head (address, type
# tags, names) is cached and float runs are packed big-endian in one call.
@lru_cache(maxsize=512)
def _string(value: str) -> bytes:
    return osc_types.write_string(value)  # UTF-8, NUL-terminated, padded to 4 bytes


@lru_cache(maxsize=64)
def _head(address: str, tags: str) -> bytes:
    return _string(address) + _string("," + tags)


def _named_floats(address: str, name: str, floats: bytes) -> bytes:
    """`address ,sf...f name v...` from big-endian float32 bytes."""
    return _head(address, "s" + "f" * (len(floats) // 4)) + _string(name) + floats


def _bundle(messages: list[bytes]) -> bytes:
    return _BUNDLE_HEAD + b"".join(osc_types.write_int(len(m)) + m for m in messages)


def bundles_below(messages: list[bytes], max_bytes: int) -> list[bytes]:
    """Pack `messages`, in order, into as few immediate bundles of at most `max_bytes` as possible."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = len(_BUNDLE_HEAD)
    for message in messages:
        need = 4 + len(message)
        if len(_BUNDLE_HEAD) + need > max_bytes:
            raise ValueError(f"an OSC message of {len(message)} bytes does not fit a {max_bytes}-byte datagram")
        if size + need > max_bytes:
            out.append(_bundle(current))
            current, size = [], len(_BUNDLE_HEAD)
        current.append(message)
        size += need
    return out + ([_bundle(current)] if current else [])


@dataclass(frozen=True)
class VmcRetarget:
    """Template joints -> Unity HumanBodyBones, in template joint order (parents first)."""

    joints: tuple[int, ...]  # template joint indices that are sent
    bones: tuple[str, ...]  # their Unity names
    parents: tuple[int, ...]  # index into `joints` of the nearest mapped ancestor; -1 = the root
    units_per_metre: float


def load_retarget(skeleton: Skeleton, path: str | Path | None = None) -> VmcRetarget:
    """Read a retarget map (default: the one shipped for the bundled template); ValueError names the bad entry."""
    if path is None:
        text = resources.files("dyad.models").joinpath(DEFAULT_RETARGET).read_text(encoding="utf-8")
        source = f"dyad.models/{DEFAULT_RETARGET}"
    else:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    try:
        data = json.loads(text)
        mapping = dict(data["bones"])
        units = float(data.get("units_per_metre", 100.0))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{source}: not a retarget map with a 'bones' object ({error})") from None
    return retarget_from_mapping(skeleton, mapping, units, source)


def retarget_from_mapping(skeleton: Skeleton, mapping: dict[str, str], units_per_metre: float, source: str = "map") -> VmcRetarget:
    for joint, bone in mapping.items():
        if joint not in skeleton.joint_names:
            raise ValueError(f"{source}: bones.{joint}: no such joint in the skeleton")
        if bone not in UNITY_BONES:
            raise ValueError(f"{source}: bones.{joint}: '{bone}' is not a Unity HumanBodyBones name")
    if len(set(mapping.values())) != len(mapping):
        raise ValueError(f"{source}: bones: a Unity bone is mapped twice")
    root = skeleton.joint_names[0]
    if mapping.get(root) != "Hips":
        raise ValueError(f"{source}: bones.{root}: the skeleton root must map to 'Hips'")
    if not units_per_metre > 0:
        raise ValueError(f"{source}: units_per_metre: must be > 0, got {units_per_metre}")
    joints = [j for j, name in enumerate(skeleton.joint_names) if name in mapping]
    slot = {j: n for n, j in enumerate(joints)}
    parents = []
    for j in joints:
        a = skeleton.parents[j]
        while a >= 0 and a not in slot:
            a = skeleton.parents[a]
        parents.append(slot.get(a, -1))
    names = tuple(mapping[skeleton.joint_names[j]] for j in joints)
    return VmcRetarget(tuple(joints), names, tuple(parents), float(units_per_metre))


@dataclass(frozen=True)
class UnityPose:
    """One person's pose in Unity space: metres, quaternions (x, y, z, w)."""

    root_position: np.ndarray  # [3]
    root_rotation: np.ndarray  # [4]
    bone_positions: np.ndarray  # [B, 3], local to the mapped parent
    bone_rotations: np.ndarray  # [B, 4], local to the mapped parent


def to_unity(skeleton: Skeleton, retarget: VmcRetarget, root_position: np.ndarray, rotations: np.ndarray) -> UnityPose:
    positions, world = global_transforms(skeleton, root_position, rotations)
    yaw = yaw_of(np.asarray(rotations, dtype=np.float64)[0])
    root_matrix = yaw_matrix(yaw)
    root_point = np.array([positions[0, 0], 0.0, positions[0, 2]])
    joints = np.array(retarget.joints)
    parents = np.array(retarget.parents)
    # parent frames: the mapped parent bone, or the root transform for the top bone(s)
    parent_matrix = np.where((parents < 0)[:, None, None], root_matrix, world[joints[parents]])
    parent_point = np.where((parents < 0)[:, None], root_point, positions[joints[parents]])
    local_matrix = np.swapaxes(parent_matrix, -1, -2) @ world[joints]
    local_point = (np.swapaxes(parent_matrix, -1, -2) @ (positions[joints] - parent_point)[..., None])[..., 0]
    scale = 1.0 / retarget.units_per_metre
    return UnityPose(
        root_position=root_point * _MIRROR * scale,
        root_rotation=matrix_to_quaternion(root_matrix * _MIRROR_MATRIX),
        bone_positions=local_point * _MIRROR * scale,
        bone_rotations=matrix_to_quaternion(local_matrix * _MIRROR_MATRIX),
    )


class VmcSender(Sink):
    """Sink: person p's frames go to host:ports[p] as VMC messages."""

    def __init__(
        self,
        host: str,
        ports: tuple[int, ...],
        skeleton: Skeleton,
        retarget: VmcRetarget | None = None,
        mtu: int = DEFAULT_MTU,
    ) -> None:
        if not 576 <= mtu <= 65535:
            raise ValueError(f"mtu must be 576..65535 bytes, got {mtu}")
        self.name = "vmc:" + ",".join(str(p) for p in ports)
        self.skeleton = skeleton
        self.retarget = retarget or load_retarget(skeleton)
        self.max_datagram = mtu - IP_UDP_HEADER
        self._udp: list[UdpTarget] = []
        try:
            for port in ports:
                self._udp.append(UdpTarget(host, port))
        except OSError:
            self.close()
            raise

    def datagrams(self, bundle: FrameBundle, person: int) -> list[bytes]:
        pose = bundle.people[person]
        unity = to_unity(self.skeleton, self.retarget, pose.root_position, pose.joint_rotations)
        root = np.concatenate([unity.root_position, unity.root_rotation]).astype(">f4").tobytes()
        bones = np.concatenate([unity.bone_positions, unity.bone_rotations], axis=1).astype(">f4")
        transforms = [_named_floats("/VMC/Ext/Root/Pos", "root", root)]
        transforms += [_named_floats("/VMC/Ext/Bone/Pos", name, row.tobytes()) for name, row in zip(self.retarget.bones, bones)]
        shapes = pose.face[:NUM_ARKIT].astype(">f4").tobytes()
        blends = [_named_floats("/VMC/Ext/Blend/Val", name, shapes[4 * i : 4 * i + 4]) for i, name in enumerate(ARKIT_NAMES)]
        blends.append(_head("/VMC/Ext/Blend/Apply", ""))
        status = [
            _head("/VMC/Ext/OK", "i") + osc_types.write_int(1),  # 1 = avatar loaded
            _head("/VMC/Ext/T", "f") + osc_types.write_float(bundle.index / bundle.fps),
        ]
        limit = self.max_datagram
        return bundles_below(transforms, limit) + bundles_below(blends, limit) + [_bundle(status)]

    def send(self, bundle: FrameBundle) -> None:
        failures: list[str] = []
        for n, pose in enumerate(bundle.people):
            if pose.person >= len(self._udp):
                raise ValueError(f"person {pose.person} has no VMC port (have {len(self._udp)})")
            try:
                self._udp[pose.person].send_all(self.datagrams(bundle, n))
            except OSError as error:  # the other person's avatar still gets its frame
                failures.append(str(error))
        if failures:
            raise OSError("; ".join(sorted(set(failures))))

    def stats(self) -> dict:
        return {"ports": [u.stats() for u in self._udp]}

    def close(self) -> None:
        for udp in self._udp:
            udp.close()


def _build(target: SinkTarget, skeleton: Skeleton, fps: int) -> VmcSender:
    retarget = load_retarget(skeleton, target.options.get("retarget"))
    return VmcSender(target.host, target.ports, skeleton, retarget, mtu=target.option_int("mtu", DEFAULT_MTU))


SINK = SinkSpec(
    scheme="vmc", usage="vmc://HOST:PORT0,PORT1[?mtu=1500&retarget=FILE]",
    purpose="VMC avatar apps: VSeeFace, Warudo, VNyan, EVMC4U, VMC4UE, VMCLiveLink",
    build=_build, options=("mtu", "retarget"), port_count=2, port_note="one per person, e.g. 39539,39541",
)  # fmt: skip
