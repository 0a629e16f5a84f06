"""Messages that flow through a session.

Every message is a frozen dataclass stamped with integer nanoseconds on the
session's one monotonic clock, and every audio sample is addressed by its
absolute index on the session's sample clock (never by a position inside a
buffer). Arrays inside messages are made read-only so a consumer cannot
change what another consumer sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def frozen_array(values: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Return a read-only contiguous copy of `values` in `dtype`.

    Copying keeps producers free to reuse their buffers (the audio callback
    does) without changing a message already handed on."""
    array = np.array(values, dtype=dtype, order="C", copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class AudioChunk:
    """A block of multichannel audio on the session sample clock.

    `start_sample` is the absolute index of `samples[0]` at `sample_rate`;
    `capture_ns` is when that sample was captured (ADC time where PortAudio
    reports it, else arrival time minus the block duration).
    """

    start_sample: int
    samples: np.ndarray  # float32 [n, channels]
    sample_rate: int
    capture_ns: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"AudioChunk.samples must be 2-D [n, channels], got shape {self.samples.shape}")
        object.__setattr__(self, "samples", frozen_array(self.samples))

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.frames


@dataclass(frozen=True)
class PersonPose:
    """One person's pose for one animation frame.

    `joint_rotations` are local exponential-map (axis-angle, radians) rotations
    in the skeleton template's joint order; row 0 is the root joint and holds
    the global orientation. `root_position` is global, in template units, Y up.
    `face` holds the 61 Live Link values (52 ARKit shapes in 0..1, then head and
    eye angles in -1..1), in the canonical order of `dyad.models.arkit`.
    """

    person: int
    root_position: np.ndarray  # [3]
    joint_rotations: np.ndarray  # [J, 3]
    face: np.ndarray  # [61]
    speaking: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "root_position", frozen_array(self.root_position))
        object.__setattr__(self, "joint_rotations", frozen_array(self.joint_rotations))
        object.__setattr__(self, "face", frozen_array(self.face))


@dataclass(frozen=True)
class FrameBundle:
    """Frame `index` for both people, as the emitter sent it.

    `audio_ns` is the capture time of the frame's audio (t0 + index / fps),
    `target_ns` the contracted send time (audio_ns + budget) and `send_ns` the
    time the emitter actually handed it to the sinks. `fallback` marks a frame
    the scheduler did not deliver in time (a deadline miss).
    """

    index: int
    audio_ns: int
    target_ns: int
    send_ns: int
    fps: int
    people: tuple[PersonPose, ...]
    fallback: bool = False

    @property
    def latency_ns(self) -> int:
        return self.send_ns - self.audio_ns


@dataclass(frozen=True)
class ControlState:
    """Per-person control inputs that condition the animators."""

    actions: tuple[str, ...] = ("stand", "stand")  # sit | walk | stand
    facing: bool = True  # the two people face each other


@dataclass(frozen=True)
class TranscriptLine:
    """Words one person said, timed on the session's audio clock (seconds since sample 0).

    Arrives from a host app's own speech recognition (OSC / ZeroMQ), a timed
    transcript file, or the local ASR. `received_ns` is when it reached the
    session: words are late by nature and that lateness is measured.
    """

    person: int
    text: str
    start_s: float
    end_s: float
    received_ns: int = 0


@dataclass(frozen=True)
class PersonFeatures:
    """Frame-rate features of one person's separated voice over a window."""

    mel: np.ndarray  # [T, n_mels] log-mel (natural log of power), averaged per animation frame
    rms_db: np.ndarray  # [T] RMS level in dBFS of the separated signal
    vad: np.ndarray  # [T] Silero speech probability, 0..1
    # Learned speech features, None unless the session runs those encoders (dyad.runtime.speech).
    # The partner's Wav2Vec2 features are the other person's `wav2vec` in the same window.
    wav2vec: np.ndarray | None = None  # [T, D] Wav2Vec2 of this person's voice, interpolated to the frame centres
    words: np.ndarray | None = None  # [T, D_bert] BERT vector of the word spoken at each frame, zeros where none is known
    no_text: np.ndarray | None = None  # [T] 1.0 where no word is known for the frame, else 0.0
    # Talker attribution's speaking probability (runtime/frontend/attribution.py), mean over the frame; None: read as 1.
    talk: np.ndarray | None = None  # [T] 0..1

    @property
    def frames(self) -> int:
        return int(self.rms_db.shape[0])


@dataclass(frozen=True)
class AnimationWindow:
    first_frame: int
    context_frames: int
    new_frames: int
    lookahead_frames: int
    fps: int
    features: tuple[PersonFeatures, PersonFeatures]
    context: tuple[tuple[PersonPose, ...], tuple[PersonPose, ...]]  # per person, oldest first
    controls: ControlState

    @property
    def first_new_frame(self) -> int:
        return self.first_frame + self.context_frames

    @property
    def total_frames(self) -> int:
        return self.context_frames + self.new_frames + self.lookahead_frames

    def new_slice(self) -> slice:
        """Rows of the feature arrays that belong to the new frames."""
        return slice(self.context_frames, self.context_frames + self.new_frames)


class Sink:
    """Where the emitter's frames go: an engine protocol, a recorder, a viewer (dyad.adapters).

    The session runs each sink on its own worker thread with a bounded queue
    (dyad.runtime.io.sinks). Subclasses implement `send`; `close` and `stats` do
    nothing unless overridden. A recorder sets `is_recorder`: it gets a deep queue
    and is always drained, because a lost frame is a hole in a file.
    """

    name: str = "sink"
    is_recorder: bool = False
    bound_endpoint: str | None = None  # a server sink that asked for port 0 says here which port it got

    def send(self, bundle: FrameBundle) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release sockets or files; called once, after the last `send`."""

    def stats(self) -> dict:
        """The sink's own counters (datagrams, clients, ...), merged into session.json."""
        return {}
