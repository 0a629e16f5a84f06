"""`dyad bench attribution`: talker attribution on two-mic mixtures of real voices, and its cost per block.

    dyad bench attribution --real ../shared/realvoice

Two real speakers take turns (4 s each, four turns); each mic hears the partner through a room
filter at a bleed level from -2 dB (two lavaliers in one room, no delay) to -20 dB, and one case
has mic 0 recording 6 dB hotter. Each mixture runs through the crosstalk canceller and the
attribution in 10 ms chunks, with the fixed decision (midpoint 0 dB, `adaptive=False`) and the
adaptive one (the default). Per person, over the second round of turns (after one round to learn
on): the speaking probability while alone and while only the partner talks, how far the partner's
voice sits below its own level on the listener's channel (dB; the bleed arrived at the bleed
level), and what the own voice lost (dB). Cost: wall time of the attribution alone per 16 ms
separation block (p50, p95) on this machine. Writes `attribution.json` and `attribution.png`.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import results_dir

RATE = 16000
# (bleed dB, delay ms, mic 0 gain dB)
CASES = ((-2.0, 0.0, 0.0), (-3.0, 0.0, 0.0), (-3.0, 3.0, 0.0), (-6.0, 5.0, 0.0), (-10.0, 3.0, 0.0), (-20.0, 8.0, 0.0),
         (-10.0, 3.0, 6.0), (-3.0, 3.0, 6.0))  # fmt: skip
VOICES = ("jfk_44k1_mono.wav", "librispeech_2412-153948-0000.wav")


def add_attribution_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", type=Path, required=True, metavar="DIR", help="folder of real recordings (e.g. ../shared/realvoice)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="result folder (default: benchmarks/results/<device>/)")


def _mixture(voices, bleed_db: float, delay_ms: float, hot_db: float):
    from dyad.runtime.offline.realvoice_dialogues import room_filter

    n = len(voices[0])
    clean = np.zeros((4 * n + RATE // 2, 2))
    for turn in range(4):
        clean[turn * n : (turn + 1) * n, turn % 2] = voices[turn % 2]
    rng = np.random.default_rng(1)
    mics = clean.copy()
    for own, partner in ((0, 1), (1, 0)):
        mics[:, own] += 10 ** (bleed_db / 20) * np.convolve(clean[:, partner], room_filter(rng, 0.3, delay_ms))[: len(clean)]
    gains = np.array([10 ** (hot_db / 20), 1.0])
    return (mics * gains).astype(np.float32), clean * gains, n


def _level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20))


def _run(mics: np.ndarray, config):
    from dyad.runtime.frontend.attribution import TalkerAttribution
    from dyad.runtime.frontend.separation import StreamingSeparator

    separator, attribution = StreamingSeparator(), TalkerAttribution(config)
    out, probability, per_block_ms = [], [], []
    for i in range(0, len(mics), 160):
        separated = separator.push(mics[i : i + 160])
        start = time.perf_counter()
        out.append(attribution.push(mics[i : i + 160], separated))
        if len(separated):
            per_block_ms.append((time.perf_counter() - start) * 1e3 / (len(separated) // attribution.block))
        probability.append(attribution.probability_samples)
    return np.concatenate(out), np.concatenate(probability), np.array(per_block_ms), attribution.report()


def run_attribution_bench(args: argparse.Namespace) -> int:
    from dyad.runtime.config import AttributionConfig
    from dyad.runtime.offline.realvoice_dialogues import load_clips

    clips = load_clips(args.real)
    voices = tuple(clips[name].audio[: 4 * RATE] for name in VOICES)
    rows, block_ms = [], {"fixed": [], "adaptive": []}
    for bleed_db, delay_ms, hot_db in CASES:
        mics, clean, n = _mixture(voices, bleed_db, delay_ms, hot_db)
        for mode, config in (("fixed", replace(AttributionConfig(), adaptive=False)), ("adaptive", AttributionConfig())):
            out, probability, ms, report = _run(mics, config)
            block_ms[mode].append(ms)
            people = []
            for own, mine, theirs in ((0, slice(2 * n, 3 * n), slice(3 * n, 4 * n)), (1, slice(3 * n, 4 * n), slice(2 * n, 3 * n))):
                people.append({
                    "probability_alone": float(probability[mine, own].mean()), "probability_partner_only": float(probability[theirs, own].mean()),
                    "partner_below_own_db": _level_db(out[theirs, own]) - _level_db(clean[theirs, 1 - own]),
                    "own_change_db": _level_db(out[mine, own]) - _level_db(clean[mine, own]),
                })  # fmt: skip
            rows.append({"bleed_db": bleed_db, "delay_ms": delay_ms, "mic0_gain_db": hot_db, "mode": mode, "people": people,
                         "learned_gap_db": report["gap_db"], "learned_midpoint_db": report["midpoint_db"]})  # fmt: skip
            worst = max(p["probability_partner_only"] for p in people)
            print(f"attribution: {bleed_db:g} dB, {delay_ms:g} ms, mic 0 +{hot_db:g} dB, {mode}: probability while only the partner "
                  f"talks (worse person) {worst:.2f}, partner voice {max(p['partner_below_own_db'] for p in people):+.1f} dB", flush=True)  # fmt: skip
    cost = {mode: {"p50_ms": float(np.percentile(np.concatenate(v), 50)), "p95_ms": float(np.percentile(np.concatenate(v), 95))}
            for mode, v in block_ms.items()}  # fmt: skip
    out = results_dir(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "attribution", "device": out.name, "voices": list(VOICES), "block_samples": 256,
               "cost_per_block": cost, "rows": rows}  # fmt: skip
    (out / "attribution.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    plot(rows, cost, out / "attribution.png")
    print("attribution: cost per 16 ms block: " + ", ".join(f"{m} p50 {c['p50_ms']:.3f} ms p95 {c['p95_ms']:.3f} ms" for m, c in cost.items()))
    print(f"dyad bench: wrote {out / 'attribution.json'} and attribution.png")
    return 0


def plot(rows: list[dict], cost: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [r for r in rows if r["mode"] == "fixed"]
    labels = [f"{r['bleed_db']:g} dB\n{r['delay_ms']:g} ms" + (f"\n+{r['mic0_gain_db']:g} dB mic0" if r["mic0_gain_db"] else "") for r in cases]
    x = np.arange(len(cases))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4))
    for ax, key, title in ((axes[0], "probability_partner_only", "listener's probability while only the partner talks (worse person)"),
                           (axes[1], "partner_below_own_db", "partner's voice on the listener's channel, dB below its own level")):  # fmt: skip
        for k, mode in enumerate(("fixed", "adaptive")):
            values = [max(p[key] for p in r["people"]) for r in rows if r["mode"] == mode]
            ax.bar(x + (k - 0.5) * 0.38, values, 0.38, label=f"{mode} ({cost[mode]['p50_ms']:.2f} ms / block)")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
