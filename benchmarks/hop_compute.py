"""Compute per hop, by stage: what one hop of audio (hop_frames / fps seconds) costs the machine.

Stages run at different rates: the front end per audio block (10 ms), the
animator and Wav2Vec2 once per hop, BERT once per batch of arrived words, the
emitter once per frame. To put them on one axis, each stage's calls are dealt
out over the session's hops in call order (call i of n goes to hop
floor(i * hops / n)) and summed per hop. A block-rate stage then gives each hop
the 6 or 7 blocks its audio spans; a rare stage (BERT) lands whole in single
hops, so its spikes show in the p99 instead of being averaged away.
"""

from __future__ import annotations

import numpy as np

from dyad.runtime.stats import SessionStats, summarize_ms

MODEL_PARTS = ("lower", "upper", "face")  # timed inside the learned animator's call (DyadGenerator stages)
ORDER = (
    "separation", "vad", "mel", "frame_features", "wav2vec2", "bert", "asr.whisper", "fallback_hint",
    "animate.lower", "animate.upper", "animate.face", "animate.rest", "animate.procedural", "emit",
)  # fmt: skip


def per_hop(values_ms: np.ndarray, hops: int) -> np.ndarray:
    """Sum a stage's calls per hop, dealing them out over `hops` hops in call order."""
    if hops <= 0:
        return np.zeros(0)
    if values_ms.size == 0:
        return np.zeros(hops)
    index = (np.arange(values_ms.size) * hops) // values_ms.size
    return np.bincount(index, weights=values_ms, minlength=hops)


def hop_breakdown(stats: SessionStats, animator: str) -> dict[str, np.ndarray]:
    """Per-hop milliseconds of every stage, with the animator call split into its timed parts.

    `animate.<animator>` is the whole call; when the generator timed lower, upper
    and face inside it, the call becomes those three plus `animate.rest` (model
    inputs, the hand-off to the inference thread, pose decoding, smoothing), so
    nothing is counted twice."""
    stages = {name: series.values_ms() for name, series in list(stats.stages.items())}
    whole = stages.pop(f"animate.{animator}", np.zeros(0))
    hops = whole.size
    breakdown = {name: per_hop(values, hops) for name, values in stages.items() if values.size}
    parts = [f"animate.{part}" for part in MODEL_PARTS if f"animate.{part}" in breakdown]
    if parts and hops:
        inside = sum((breakdown[name] for name in parts), np.zeros(hops))
        breakdown["animate.rest"] = np.clip(whole - inside, 0.0, None)
    elif hops:
        breakdown[f"animate.{animator}"] = whole
    return dict(sorted(breakdown.items(), key=lambda item: _rank(item[0])))


def _rank(stage: str) -> tuple[int, str]:
    return (ORDER.index(stage) if stage in ORDER else len(ORDER), stage)


def hop_report(stats: SessionStats, animator: str, hop_ms: float) -> dict:
    """Per-stage and total compute per hop (summaries), and the total's p99 against the hop length."""
    breakdown = hop_breakdown(stats, animator)
    if not breakdown:
        return {"stage_per_hop_ms": {}, "compute_per_hop_ms": {"count": 0}, "compute_p99_over_hop": None}
    total = sum(breakdown.values())
    summary = summarize_ms(total, decimals=3)
    return {
        "stage_per_hop_ms": {name: summarize_ms(values, decimals=3) for name, values in breakdown.items()},
        "compute_per_hop_ms": summary,
        "compute_per_hop_stages": list(breakdown),
        "compute_p99_over_hop": round(summary["p99"] / hop_ms, 4),
    }
