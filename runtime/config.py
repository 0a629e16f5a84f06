"""Typed session configuration, validated up front with one-line errors that name the field."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState
from dyad.runtime.net_policy import NetworkPolicy
from dyad.runtime.separation import SeparationConfig
from dyad.runtime.speech_config import SpeechFeaturesConfig

ACTIONS = ("sit", "walk", "stand")


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


MAX_BUDGET_MS = 10_000.0  # the same ceiling for --budget-ms and a control message's budget


def _require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise DyadError(f"config field '{field_name}': {message}")


@dataclass(frozen=True)
class TimingConfig:
    """The latency contract's knobs.

    Budget arithmetic: hop + lookahead + pipeline delay + compute + transport <= budget.
    With the defaults (2 frames hop = 66.7 ms, no lookahead, ~38 ms of audio
    buffering in source block, separation block and mel window) about 45 ms
    remain for compute and transport inside 150 ms.
    """

    fps: int = 30
    budget_ms: float = 150.0
    hop_frames: int = 2
    lookahead_frames: int = 0
    context_frames: int = 8
    block_ms: float = 10.0  # audio source block (replay) / PortAudio blocksize

    @property
    def budget_ns(self) -> int:
        return int(round(self.budget_ms * 1e6))

    def validate(self) -> None:
        _require(1 <= self.fps <= 240, "timing.fps", f"must be 1..240, got {self.fps}")
        _require(0 < self.budget_ms <= MAX_BUDGET_MS, "timing.budget_ms", f"must be above 0 and at most {MAX_BUDGET_MS:g} ms, got {self.budget_ms:g}")
        _require(1 <= self.hop_frames <= self.fps, "timing.hop_frames", f"must be 1..fps, got {self.hop_frames}")
        _require(0 <= self.lookahead_frames <= self.fps, "timing.lookahead_frames", f"must be 0..fps, got {self.lookahead_frames}")
        _require(0 <= self.context_frames <= 10 * self.fps, "timing.context_frames", f"must be 0..10 s of frames, got {self.context_frames}")
        _require(1.0 <= self.block_ms <= 100.0, "timing.block_ms", f"must be 1..100 ms, got {self.block_ms}")


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000  # session clock; Silero VAD and Wav2Vec2 both want 16 kHz
    queue_seconds: float = 2.0  # bounded hand-off from the audio thread; newest chunk dropped when full

    def validate(self) -> None:
        _require(self.sample_rate == 16000, "audio.sample_rate", f"the session runs at 16000 Hz (inputs are resampled), got {self.sample_rate}")
        _require(0.1 <= self.queue_seconds <= 60, "audio.queue_seconds", f"must be 0.1..60, got {self.queue_seconds}")


@dataclass(frozen=True)
class MelConfig:
    n_fft: int = 400  # 25 ms window
    hop_length: int = 160  # 10 ms
    n_mels: int = 80

    def validate(self) -> None:
        _require(self.n_fft >= 64, "mel.n_fft", f"must be >= 64, got {self.n_fft}")
        _require(0 < self.hop_length <= self.n_fft, "mel.hop_length", f"must be 1..n_fft, got {self.hop_length}")
        _require(8 <= self.n_mels <= 256, "mel.n_mels", f"must be 8..256, got {self.n_mels}")


@dataclass(frozen=True)
class SessionConfig:
    timing: TimingConfig = field(default_factory=TimingConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    separation: SeparationConfig = field(default_factory=SeparationConfig)
    speech: SpeechFeaturesConfig = field(default_factory=SpeechFeaturesConfig)  # Wav2Vec2 / ASR / BERT, off by default
    seed: int = 0
    offline: bool = False
    seconds: float | None = None
    out_dir: Path | None = None
    sinks: tuple[str, ...] = ()
    controls: ControlState = field(default_factory=ControlState)
    control_urls: tuple[str, ...] = ()  # --control: OSC / ZeroMQ listeners (dyad.runtime.control)
    wait_start: bool = False  # --wait-start: hold the session until a control 'start' message
    record_at_start: bool = True  # False (--record-paused): recordings begin at a control 'record 1'
    status_interval_s: float = 1.0  # live status line; 0 disables
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # --allow-remote / --allow-from (dyad.runtime.net_policy)
    health_interval_s: float = 5.0  # health summary to the log (latency, misses, drops, sink errors); 0 disables

    def validate(self) -> SessionConfig:
        self.timing.validate()
        self.audio.validate()
        self.mel.validate()
        self.separation.validate()
        self.speech.validate()
        _require(self.seconds is None or 0 < self.seconds < math.inf, "seconds", f"must be a finite number > 0, got {self.seconds}")
        _require(self.health_interval_s >= 0, "health_interval_s", f"must be >= 0, got {self.health_interval_s}")
        for address in self.network.allow_from:
            _require(_is_ip(address), "network.allow_from", f"'{address}' is not an IP address")
        _require(len(self.controls.actions) == 2, "controls.actions", "needs one action per person")
        for action in self.controls.actions:
            _require(action in ACTIONS, "controls.actions", f"unknown action '{action}' (expected one of {', '.join(ACTIONS)})")
        floor_ms = self.minimum_budget_ms()
        _require(
            self.timing.budget_ms > floor_ms,
            "timing.budget_ms",
            f"{self.timing.budget_ms:g} ms cannot hold hop + lookahead + audio buffering = {floor_ms:.1f} ms even with zero compute",
        )
        return self

    def pipeline_delay_ms(self) -> float:
        """Audio buffering before a frame's features exist: source block, separation block, mel right half-window
        (and, with Wav2Vec2 on, its lookahead and frame)."""
        separation_block_ms = self.separation.block / self.audio.sample_rate * 1000
        mel_right_ms = self.mel.n_fft / 2 / self.audio.sample_rate * 1000
        return self.timing.block_ms + separation_block_ms + mel_right_ms + self.speech.extra_delay_ms()

    def minimum_budget_ms(self) -> float:
        t = self.timing
        return (t.hop_frames + t.lookahead_frames) / t.fps * 1000 + self.pipeline_delay_ms()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir) if self.out_dir else None
        data["sinks"] = list(self.sinks)
        data["control_urls"] = list(self.control_urls)
        return data
