"""ARKit face blendshape names in the canonical Live Link order.

The order is Unreal's `EARFaceBlendShape` enum as Live Link Face sends it:
52 ARKit shapes (values 0..1), then 9 head and eye angles (normalised to -1..1,
i.e. degrees / 180). Everything that stores face values in dyad uses this order;
data from anywhere else is mapped *by name* (datasets ship 51 shapes, CSV
exports swap some columns), never by position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

ARKIT_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft",
    "EyeSquintLeft", "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight",
    "EyeLookOutRight", "EyeLookUpRight", "EyeSquintRight", "EyeWideRight",
    "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight",
    "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight",
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight",
    "TongueOut",
)  # fmt: skip

HEAD_EYE_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)  # fmt: skip

LIVE_LINK_NAMES: tuple[str, ...] = ARKIT_NAMES + HEAD_EYE_NAMES

NUM_ARKIT = len(ARKIT_NAMES)  # 52
NUM_LIVE_LINK = len(LIVE_LINK_NAMES)  # 61
ARKIT_SLICE = slice(0, NUM_ARKIT)  # blendshapes, 0..1
HEAD_EYE_SLICE = slice(NUM_ARKIT, NUM_LIVE_LINK)  # angles, -1..1
HEAD_SLICE = slice(52, 55)  # HeadYaw, HeadPitch, HeadRoll
LEFT_EYE_SLICE = slice(55, 58)
RIGHT_EYE_SLICE = slice(58, 61)

SHAPE_RANGE: tuple[float, float] = (0.0, 1.0)
ANGLE_RANGE: tuple[float, float] = (-1.0, 1.0)
ANGLE_DEGREES_PER_UNIT = 180.0  # a head/eye value of 1.0 means 180 degrees

# Lookup by lower-cased name accepts PascalCase (Live Link) and camelCase (ARKit).
_INDEX: dict[str, int] = {name.lower(): i for i, name in enumerate(LIVE_LINK_NAMES)}
# Apple's ARBlendShapeLocation raw values end in _L / _R ("eyeBlink_L").
_SIDE_SUFFIX = re.compile(r"_(L|R)$", re.IGNORECASE)


def arkit_camel_name(name: str) -> str:
    """ARKit's own spelling: the Live Link name with a lower-case first letter."""
    return name[:1].lower() + name[1:]


def _canonical_key(name: str) -> str:
    # Exports prefix names with a mesh or node ("blendShape1.jawOpen", "BS_node:jawOpen").
    key = re.split(r"[.:|]", name.strip())[-1]
    key = _SIDE_SUFFIX.sub(lambda m: "Left" if m.group(1).upper() == "L" else "Right", key)
    return key.lower()


def index_of(name: str) -> int:
    """Canonical index of a Live Link / ARKit name; case, prefixes and _L/_R tolerated.

    Raises KeyError for names that are not one of the 61."""
    index = _INDEX.get(_canonical_key(name))
    if index is None:
        raise KeyError(f"not an ARKit / Live Link face name: {name!r}")
    return index


def map_by_name(names: Sequence[str], values: np.ndarray, ignore_unknown: bool = False) -> np.ndarray:
    """Reorder `values[..., len(names)]` into the canonical order `[..., 61]`.

    Names missing from `names` become 0 (e.g. TongueOut in 51-shape datasets).
    Unknown names raise ValueError unless `ignore_unknown` is set; a name given
    twice raises ValueError, because silently picking one would hide a bad file.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.shape[-1:] != (len(names),):
        raise ValueError(f"values have {values.shape[-1:]} columns for {len(names)} names")
    out = np.zeros(values.shape[:-1] + (NUM_LIVE_LINK,), dtype=np.float32)
    seen: set[int] = set()
    for column, name in enumerate(names):
        try:
            index = index_of(name)
        except KeyError:
            if ignore_unknown:
                continue
            raise ValueError(f"unknown face channel name {name!r}") from None
        if index in seen:
            raise ValueError(f"face channel {LIVE_LINK_NAMES[index]!r} given twice")
        seen.add(index)
        out[..., index] = values[..., column]
    return out
