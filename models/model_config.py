"""Typed configs of the learned animators, stored inside every checkpoint as JSON.

A config is the whole recipe for rebuilding a network: sizes, the feature
dimensions it was trained on, the skeleton (joint names and parents) and the
lower/upper joint split. Loading rebuilds the network from the stored config and
then fills it with the stored tensors, so a checkpoint never depends on code defaults.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field

from dyad.models.actions import ACTIONS  # noqa: F401 (the one-hot order, re-exported for the networks)
from dyad.models.arkit import LIVE_LINK_NAMES
from dyad.models.body_repr import BodySplit
from dyad.models.diffusion import SCHEDULES
from dyad.models.skeleton import Skeleton

FACE_AUDIO_INPUTS = ("wav2vec2", "mel")  # what the face model hears: Wav2Vec2 features or the session's log-mel


@dataclass(frozen=True)
class NetSize:
    width: int = 128  # sized for a CPU: the benchmark measures what each step costs
    layers: int = 4
    heads: int = 4
    ff_mult: int = 2
    max_distance: int = 32  # relative positions are clipped at this many frames

    def check(self, what: str) -> None:
        if self.width < 8 or self.layers < 1 or self.heads < 1 or self.ff_mult < 1 or self.max_distance < 1:
            raise ValueError(f"{what}: every size must be positive (width >= 8), got {self}")
        if self.width % self.heads:
            raise ValueError(f"{what}: width {self.width} must split evenly into {self.heads} heads")


@dataclass(frozen=True)
class DiffusionConfig:
    train_steps: int = 1000
    schedule: str = "cosine"

    def check(self) -> None:
        if not 1 <= self.train_steps <= 1000:
            raise ValueError(f"diffusion.train_steps must be 1..1000, got {self.train_steps}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"diffusion.schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")


@dataclass(frozen=True)
class BodyConfig:
    """Lower and upper body networks of one two-person body model."""

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_root_height: float  # template units; tells a centimetre skeleton from a metre one
    lower_joints: tuple[str, ...]
    upper_joints: tuple[str, ...]
    mel_dim: int = 80
    word_dim: int = 384  # all-MiniLM-L6-v2, the packaged BERT default
    fps: int = 30
    lower_net: NetSize = field(default_factory=NetSize)
    upper_net: NetSize = field(default_factory=NetSize)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    placement_scale: float = 100.0  # template units mapped to 1.0 in the placement input
    mel_normalized: bool = False  # trained on per-person normalised log-mel (the folder's mel_reference.json): live must map it too

    @classmethod
    def for_skeleton(cls, skeleton: Skeleton, **sizes) -> BodyConfig:
        split = BodySplit.default(skeleton)
        return cls(
            joint_names=skeleton.joint_names,
            parents=skeleton.parents,
            rest_root_height=float(skeleton.rest_root_height),
            lower_joints=split.lower,
            upper_joints=split.upper,
            **sizes,
        )

    @property
    def split(self) -> BodySplit:
        return BodySplit(self.lower_joints, self.upper_joints)

    def check(self) -> None:
        self.lower_net.check("lower_net")
        self.upper_net.check("upper_net")
        self.diffusion.check()
        if len(self.joint_names) != len(self.parents):
            raise ValueError("body config: joint_names and parents differ in length")
        if self.mel_dim < 1 or self.word_dim < 1:
            raise ValueError(f"body config: feature dimensions must be positive, got mel {self.mel_dim}, words {self.word_dim}")


@dataclass(frozen=True)
class FaceConfig:
    """The face diffusion transformer (FaceFormer / DiffSpeaker family), one person per batch row."""

    wav2vec_dim: int = 768  # size of the audio features per frame: Wav2Vec2-base hidden size, or the mel bands
    audio_input: str = "wav2vec2"  # "wav2vec2" | "mel": a mel-conditioned face model needs no speech encoder
    speakers: int = 8  # speaker one-hot size (training identities)
    net: NetSize = field(default_factory=NetSize)
    period: int = 30  # periodic positional encoding and temporal bias period, frames
    align_radius: int = 2  # cross-attention sees audio frames within +-radius of the motion frame
    face_names: tuple[str, ...] = LIVE_LINK_NAMES
    fps: int = 30
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    mel_normalized: bool = False  # trained on per-person normalised log-mel (the folder's mel_reference.json): live must map it too
    energy_cue: bool = False  # the encoder adds each person's frame loudness and its change (from the normalised mel) to the audio

    def check(self) -> None:
        self.net.check("net")
        self.diffusion.check()
        if self.wav2vec_dim < 1 or self.speakers < 1 or self.period < 1 or self.align_radius < 0:
            raise ValueError("face config: wav2vec_dim, speakers and period must be positive, align_radius >= 0")
        if self.audio_input not in FACE_AUDIO_INPUTS:
            raise ValueError(f"face config: audio_input {self.audio_input!r} is not one of {', '.join(FACE_AUDIO_INPUTS)}")


def tiny_sizes() -> NetSize:
    """A network small enough for tests: random weights, runs in about a millisecond."""
    return NetSize(width=32, layers=1, heads=2, ff_mult=2, max_distance=8)


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict, where: str = "config"):
    """Rebuild a (nested) frozen config dataclass; unknown or missing keys are named in the error."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}")
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}: missing field {f.name!r}")
            continue
        hint, value = hints[f.name], data[f.name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value, f"{where}.{f.name}")
        elif typing.get_origin(hint) is tuple:
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
