"""`dyad bench words`: the live recogniser's words, how right, how late, how many reach frames, what they cost.

    dyad bench words --real ../shared/realvoice --heldout DIR [--dialogues 2] [--out DIR]

Three parts, each a set of rows in `words.json` (and panels of `words.png`):
- files: the PocketSphinx stream (`--asr sphinx`, as a session runs it, offline on the audio
  clock) over every transcribed recording of `--real`: word error rate, and lateness
  (commit time minus word end) before any queueing;
- heldout: synthetic dialogues made with `dyad corpus --minutes 2 --seed 99 --out DIR`, each
  take's two microphones through the session's front end (separation, VAD) and the recogniser,
  offline: WER per person against the corpus transcript;
- live: real-time sessions at the default budget on the demo dialogue and on real-voice dev
  dialogues (`dyad.runtime.offline.realvoice_dialogues`), each run with word features on and
  the recogniser off (`--asr none`), then with `--asr sphinx`: deadline misses, lateness
  (arrival on the frame clock minus word end) p50/p95, the fraction of recognised words that
  reach at least one frame, recogniser CPU per hop, audio the recogniser dropped.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import figure, new_report, results_dir, save, write_report
from dyad.runtime.errors import DyadError

TARGETS = {"reached_fraction_min": 0.9, "lateness_p95_ms_max": 1000.0, "added_misses_max": 0}


def add_words_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--real", type=Path, required=True, metavar="DIR", help="real recordings with transcripts.json (e.g. ../shared/realvoice)")
    parser.add_argument("--heldout", type=Path, default=None, metavar="DIR", help="`dyad corpus --minutes 2 --seed 99` output (skipped if absent)")
    parser.add_argument("--dialogues", type=int, default=2, help="real-voice dev dialogues run live (default 2)")
    parser.add_argument("--no-live", action="store_true", help="skip the real-time sessions")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="result folder (default: benchmarks/results/<device>/)")


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"count": len(values), "p50": round(float(p50), 1), "p95": round(float(p95), 1), "max": round(float(max(values)), 1)}


def file_rows(real: Path) -> list[dict]:
    from dyad.runtime.offline.asr_eval import score_file, transcribed_files

    rows = []
    for name, reference in sorted(transcribed_files(real).items()):
        started = time.thread_time()
        score = score_file(real / name, reference)
        rows.append({
            "part": "files", "file": name, "seconds": round(score.seconds, 2), "reference_words": score.errors.reference_words,
            "errors": score.errors.errors, "wer": round(score.errors.wer, 3), "hypothesis": score.hypothesis,
            "lateness_ms": _percentiles([1000 * s for s in score.lateness_s]),
            "cpu_s_per_audio_s": round((time.thread_time() - started) / score.seconds, 3),
        })  # fmt: skip
    return rows


def heldout_rows(heldout: Path) -> list[dict]:
    from dyad.models.interact import load_interact
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
    from dyad.runtime.config import SessionConfig, SpeechFeaturesConfig
    from dyad.runtime.offline.feature_dump import dump_features
    from dyad.runtime.offline.word_error import word_errors
    from dyad.runtime.speech.words import read_transcript_file

    rows = []
    config = SessionConfig(offline=True, speech=SpeechFeaturesConfig(bert="default", asr="sphinx")).validate()
    with tempfile.TemporaryDirectory() as scratch:
        for take in load_interact(heldout).takes:
            if take.transcript is None:
                continue
            out = Path(scratch) / f"{take.name}.npz"
            dump_features(config, WavReplaySource(open_wav_inputs(list(take.wavs), 16000), block_ms=10, realtime=False), out)
            with np.load(out) as data:
                words, fps = json.loads(str(data["words_json"])), int(data["fps"])
            script = read_transcript_file(take.transcript)
            for person in (0, 1):
                reference = " ".join(r.text.decode("utf-8", "replace") for r in script if r.person == person)
                heard = [w for w in words if w["person"] == person]
                errors = word_errors(reference, " ".join(w["text"] for w in heard))
                rows.append({
                    "part": "heldout", "take": take.name, "person": person, "reference_words": errors.reference_words,
                    "errors": errors.errors, "wer": round(errors.wer, 3),
                    "lateness_ms": _percentiles([1000 * (w["from_frame"] / fps - w["end_s"]) for w in heard]),
                })  # fmt: skip
    return rows


def _live_session(wav: Path, asr: str, seconds: float | None) -> dict:
    from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
    from dyad.runtime.config import SessionConfig, SpeechFeaturesConfig
    from dyad.runtime.session import Session
    from dyad.runtime.speech.sphinx_words import CPU_PER_HOP

    config = SessionConfig(seconds=seconds, speech=SpeechFeaturesConfig(bert="default", asr=asr), status_interval_s=0, health_interval_s=0).validate()
    source = WavReplaySource(open_wav_inputs([wav], config.audio.sample_rate), block_ms=config.timing.block_ms, seconds=seconds, realtime=True)
    summary = Session(config, source).run().summary
    words = summary["speech_features"]["words"]
    counters = summary["counters"]
    return {
        "asr": asr, "budget_ms": config.timing.budget_ms, "audio_s": round(summary["audio_seconds"], 2),
        "frames": summary["frames"], "deadline_misses": summary["deadline_misses"],
        "latency_ms_p95": summary["latency_ms"].get("p95"),
        "words_received": words["words_received"], "words_reached_frames": words["words_reached_frames"],
        "reached_fraction": words["reached_fraction"], "lateness_after_end_ms": words["word_lateness_after_end_ms"],
        "cpu_per_hop_ms": summary["stage_ms"].get(CPU_PER_HOP, {"count": 0}),
        "asr_audio_dropped_s": round(counters.get("asr_audio_dropped_samples", 0) / config.audio.sample_rate, 3),
        "bert_ms": summary["stage_ms"].get("bert", {"count": 0}),
    }  # fmt: skip


def live_rows(real: Path, dialogues: int) -> list[dict]:
    import soundfile as sf

    from dyad.runtime.assets import demo_audio_path
    from dyad.runtime.offline.realvoice_dialogues import build_dialogues

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        inputs = [("demo_dialogue", demo_audio_path())]
        for dialogue in build_dialogues(real, only=dialogues):
            path = Path(scratch) / f"{dialogue.name}.wav"
            sf.write(path, dialogue.mics, 16000, subtype="PCM_16")
            inputs.append((dialogue.name, path))
        for name, wav in inputs:
            for asr in ("none", "sphinx"):
                print(f"dyad bench words: live {name}, --asr {asr}", flush=True)
                rows.append({"part": "live", "input": name, **_live_session(wav, asr, None)})
    return rows


def summarize(rows: list[dict]) -> dict:
    files = [r for r in rows if r["part"] == "files"]
    heldout = [r for r in rows if r["part"] == "heldout"]
    live = [r for r in rows if r["part"] == "live" and r["asr"] == "sphinx"]
    base = {r["input"]: r for r in rows if r["part"] == "live" and r["asr"] == "none"}
    pooled = lambda rs: round(sum(r["errors"] for r in rs) / max(1, sum(r["reference_words"] for r in rs)), 3) if rs else None  # noqa: E731
    received = sum(r["words_received"] for r in live)
    summary = {
        "wer_realvoice_files": pooled(files),
        "wer_heldout_synthetic": pooled(heldout),
        "live_words_received": received,
        "live_reached_fraction": round(sum(r["words_reached_frames"] for r in live) / received, 4) if received else None,
        "live_lateness_p95_ms_worst": max((r["lateness_after_end_ms"].get("p95", 0.0) for r in live), default=None),
        "live_lateness_p50_ms_worst": max((r["lateness_after_end_ms"].get("p50", 0.0) for r in live), default=None),
        "live_cpu_per_hop_ms_mean": round(float(np.mean([r["cpu_per_hop_ms"]["mean"] for r in live if r["cpu_per_hop_ms"]["count"]])), 2) if live else None,
        "live_added_deadline_misses": sum(r["deadline_misses"] - base[r["input"]]["deadline_misses"] for r in live if r["input"] in base),
        "live_asr_audio_dropped_s": round(sum(r["asr_audio_dropped_s"] for r in live), 3),
    }  # fmt: skip
    if live:
        summary["targets_met"] = {
            "reached_fraction": (summary["live_reached_fraction"] or 0) >= TARGETS["reached_fraction_min"],
            "lateness_p95": summary["live_lateness_p95_ms_worst"] <= TARGETS["lateness_p95_ms_max"],
            "added_misses": summary["live_added_deadline_misses"] <= TARGETS["added_misses_max"],
        }
    return summary


def plot(report: dict, path: Path) -> None:
    rows = report["rows"]
    fig, axes = figure(3, width=15.0)
    wer_rows = [r for r in rows if r["part"] == "files"]
    ax = axes[0][0]
    labels = [r["file"].removesuffix(".wav") for r in wer_rows] + ["synthetic held-out (pooled)"]
    values = [r["wer"] for r in wer_rows] + [report["summary"].get("wer_heldout_synthetic") or 0.0]
    ax.barh(labels, values, color=["tab:blue"] * len(wer_rows) + ["tab:orange"])
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("word error rate")
    ax.set_title("sphinx WER: real recordings, synthetic held-out")
    live = [r for r in rows if r["part"] == "live" and r["asr"] == "sphinx"]
    ax = axes[0][1]
    names = [r["input"][:18] for r in live]
    x = np.arange(len(live))
    ax.bar(x - 0.2, [r["lateness_after_end_ms"].get("p50", 0) for r in live], 0.4, label="p50")
    ax.bar(x + 0.2, [r["lateness_after_end_ms"].get("p95", 0) for r in live], 0.4, label="p95")
    ax.axhline(TARGETS["lateness_p95_ms_max"], color="red", linestyle="--", label="p95 target")
    ax.set_xticks(x, names, rotation=20, fontsize=7)
    ax.set_ylabel("ms, arrival minus word end")
    ax.set_title("live word lateness")
    ax.legend(fontsize=7)
    ax = axes[0][2]
    base = {r["input"]: r for r in rows if r["part"] == "live" and r["asr"] == "none"}
    ax.bar(x - 0.2, [base.get(r["input"], {}).get("deadline_misses", 0) for r in live], 0.4, label="misses, --asr none")
    ax.bar(x + 0.2, [r["deadline_misses"] for r in live], 0.4, label="misses, --asr sphinx")
    ax.set_xticks(x, names, rotation=20, fontsize=7)
    ax.set_ylim(0, max([1] + [r["deadline_misses"] for r in rows if r["part"] == "live"]) * 1.2)
    ax.set_ylabel("deadline misses")
    ax2 = ax.twinx()
    ax2.plot(x, [r["reached_fraction"] or 0 for r in live], "ko-", label="reached fraction")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("fraction of recognised words on frames")
    ax.set_title(f"deadline misses at {live[0]['budget_ms']:g} ms; words reaching frames" if live else "no live runs")
    ax.legend(fontsize=7, loc="upper left")
    save(fig, path)


def run_words(args: argparse.Namespace) -> int:
    if not (args.real / "transcripts.json").is_file():
        raise DyadError(f"--real {args.real}: no transcripts.json there")
    if args.dialogues < 0:
        raise DyadError(f"--dialogues must be >= 0, got {args.dialogues}")
    report = new_report("words", recogniser="pocketsphinx (packaged en-us model), --asr sphinx defaults", targets=TARGETS)
    report["rows"] += file_rows(args.real)
    if args.heldout is not None and args.heldout.is_dir():
        report["rows"] += heldout_rows(args.heldout)
    else:
        report["not_measured"].append({"part": "heldout", "reason": f"no held-out corpus at {args.heldout} (make one: dyad corpus --minutes 2 --seed 99 --out DIR)"})
    if args.no_live:
        report["not_measured"].append({"part": "live", "reason": "--no-live"})
    else:
        report["rows"] += live_rows(args.real, args.dialogues)
    report["summary"] = summarize(report["rows"])
    path = write_report(report, results_dir(args.out), plot)
    print(json.dumps(report["summary"], indent=1))
    print(f"dyad bench: wrote {path} and {path.with_suffix('.png').name}")
    return 0
