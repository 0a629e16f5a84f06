"""`dyad features`: run the audio front end and speech featurizers over WAV input, dump every stream.

The same components as a live session (separation, VAD, mel, Wav2Vec2,
words -> BERT), driven offline on the audio clock, without the animator or
the emitter. The .npz holds, per animation frame (axis 0) and person (axis 1):
  mel [T, 2, n_mels]        rms_db [T, 2]        vad [T, 2]
  wav2vec2_self [T, 2, D]   wav2vec2_partner [T, 2, D]  (row p holds person 1-p)
  bert [T, 2, D_bert]       no_text [T, 2]
  frame_time_s [T]          fps, sample_rate
  words_json                every word that reached the frames, with its times
  stage_ms_json             cost of each stage per call (ms), as in session.json
  counters_json             rejections, lateness counts, as in session.json
Streams of featurizers that are off are absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dyad.runtime.audio.source import AudioSource
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frontend.features import FeatureTimeline
from dyad.runtime.frontend.front_end import AudioFrontEnd
from dyad.runtime.speech.speech_features import SpeechFeatures
from dyad.runtime.stats import SessionStats

RING_FRAMES = 4096  # read back after every chunk, so the ring only needs to hold one chunk's frames


class _Collector:
    """Copies newly finished frames out of the timeline ring."""

    def __init__(self, timeline: FeatureTimeline) -> None:
        self.timeline = timeline
        self.read_until = 0
        self.parts: dict[str, list[np.ndarray]] = {}

    def collect(self) -> None:
        count = self.timeline.ready_until - self.read_until
        if count <= 0:
            return
        people = self.timeline.window(self.read_until, count)
        self.read_until += count
        for name in ("mel", "rms_db", "vad", "wav2vec", "words", "no_text"):
            values = [getattr(p, name) for p in people]
            if values[0] is not None:
                self.parts.setdefault(name, []).append(np.stack(values, axis=1))

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(chunks) for name, chunks in self.parts.items()}


def dump_features(config: SessionConfig, source: AudioSource, out: Path) -> dict:
    """Compute every stream for the whole input and write `out` (.npz); returns a short summary."""
    if out.suffix != ".npz":
        raise DyadError(f"--out must name a .npz file, got {out}")
    stats = SessionStats()
    speech = SpeechFeatures(config, stats, threaded_asr=False) if config.speech.enabled else None
    dims = {} if speech is None else {"wav2vec_dim": speech.wav2vec_dim, "words_dim": speech.words_dim}
    timeline = FeatureTimeline(config.mel.n_mels, RING_FRAMES, **dims)
    frontend = AudioFrontEnd(config, timeline, stats, speech=speech)
    collector = _Collector(timeline)
    try:
        for chunk in source.iter_chunks():  # the source applies --seconds
            frontend.process(chunk)
            collector.collect()
        end_frame = frontend.finish()  # whole frames of input; the silence pushed after it may finish one more
        collector.collect()
    finally:
        source.close()
        if speech is not None:
            speech.close()
    arrays = {name: values[:end_frame] for name, values in _rename(collector.arrays()).items()}
    frames = end_frame
    fps = config.timing.fps
    summary = stats.summary()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        fps=np.int64(fps),
        sample_rate=np.int64(config.audio.sample_rate),
        frame_time_s=(np.arange(frames) / fps).astype(np.float64),
        words_json=np.array(json.dumps([] if speech is None or speech.words is None else list(speech.words.placed_log))),
        stage_ms_json=np.array(json.dumps(summary["stage_ms"])),
        counters_json=np.array(json.dumps(summary["counters"])),
        **arrays,
    )
    return {"frames": frames, "streams": sorted(arrays), "stage_ms": summary["stage_ms"], "counters": summary["counters"]}


def _rename(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {name: arrays[name] for name in ("mel", "rms_db", "vad") if name in arrays}
    if "wav2vec" in arrays:
        out["wav2vec2_self"] = arrays["wav2vec"]
        out["wav2vec2_partner"] = np.ascontiguousarray(arrays["wav2vec"][:, ::-1])
    if "words" in arrays:
        out["bert"] = arrays["words"]
        out["no_text"] = arrays["no_text"]
    return out
