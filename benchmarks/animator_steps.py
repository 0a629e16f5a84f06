"""Per-hop compute of the learned animator for a dyad, by sampling steps and backend.

    python -m dyad.benchmarks.animator_steps --hops 200 --steps 1,2,4,8

One measured value is the wall time of one `LearnedAnimator.animate` call: both
people, lower body -> upper body -> face, every DDIM step, inputs built from the
window and poses decoded. Windows have the session's default shape (8 context +
2 new frames at 30 fps) and carry the previous outputs as context, as the
scheduler does; features are random but of the real sizes (80 mel bands, BERT
and Wav2Vec2 vectors present). Weights are untrained unless `--model` names a
trained folder: compute does not depend on their values. Adaptation is off.

Writes `animator_steps.json` and `animator_steps.png` under
`benchmarks/results/<device-name>/`. GPU numbers are measured only where torch
sees a CUDA device; otherwise the JSON says "not measured".
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

from dyad.benchmarks.hop_timing import WindowShape, WindowStream, random_features, run_stream
from dyad.benchmarks.session_latency import DEFAULT_RESULTS, device_name
from dyad.models.model_dir import export_model_dir, init_model_dir
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.config import SessionConfig
from dyad.runtime.animate.learned_animator import LearnedAnimator, load_learned_animator
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.stats import summarize_ms

WARMUP_HOPS = 5


def time_hops(animator: LearnedAnimator, session: SessionConfig, hops: int, seed: int = 0) -> np.ndarray:
    """Milliseconds per animate call over `hops` streamed windows (after a few warm-up hops)."""
    t = session.timing
    shape = WindowShape(t.context_frames, t.hop_frames, t.lookahead_frames, t.fps)
    stream = WindowStream(shape, random_features(animator, seed), session.controls)
    return run_stream(animator.animate, stream, hops, warmup=WARMUP_HOPS).ms


def measure(folder: Path, device: str, backends: list[str], steps: list[int], hops: int) -> dict:
    session = SessionConfig(offline=True, status_interval_s=0.0)
    skeleton = load_default_skeleton()
    results: dict = {}
    for backend in backends:
        results[backend] = {}
        for count in steps:
            config = LearnedConfig(folder, steps=count, backend=backend, device=device, adapt=False)
            animator = load_learned_animator(config, session, skeleton)
            results[backend][str(count)] = summarize_ms(time_hops(animator, session, hops), decimals=3)
    return results


def _model_facts(folder: Path) -> dict:
    from dyad.models.model_dir import load_model_dir

    models = load_model_dir(folder)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    body, face = models.body.config, models.face.config
    return {
        "folder": str(folder),
        "trained": models.trained,
        "body_parameters": count(models.body),
        "face_parameters": count(models.face),
        "lower_net": body.lower_net.__dict__,
        "upper_net": body.upper_net.__dict__,
        "face_net": face.net.__dict__,
        "dims": {"mel": body.mel_dim, "words": body.word_dim, "wav2vec": face.wav2vec_dim, "lower": body.split.lower_dim, "upper": body.split.upper_dim},
    }


def _machine() -> dict:
    import onnxruntime
    import torch

    from dyad.runtime.session import _cpu_count

    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": _cpu_count(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}  # fmt: skip


def run_benchmark(folder: Path, backends: list[str], steps: list[int], hops: int) -> dict:
    import torch

    session = SessionConfig()
    report = {
        "benchmark": "animator_steps",
        "device": device_name(),
        "measures": "wall time of one LearnedAnimator.animate call per hop (both people; lower, upper, face; all steps)",
        "window": {"context_frames": session.timing.context_frames, "new_frames": session.timing.hop_frames,
                   "lookahead_frames": session.timing.lookahead_frames, "fps": session.timing.fps},  # fmt: skip
        "compute_allowance_ms": round(session.timing.budget_ms - session.minimum_budget_ms(), 3),
        "cpu_threads": LearnedConfig(folder).cpu_threads,
        "hops": hops,
        "model": _model_facts(folder),
        "cpu_ms": measure(folder, "cpu", backends, steps, hops),
    }
    if torch.cuda.is_available():
        report["gpu_ms"] = measure(folder, "cuda", backends, steps, hops)
        report["gpu"] = torch.cuda.get_device_name(0)
    else:
        report["gpu_ms"] = "not measured: torch sees no CUDA device on this machine"
    report["machine"] = _machine()
    return report


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    panels = [("cpu", report["cpu_ms"])] + ([("gpu", report["gpu_ms"])] if isinstance(report["gpu_ms"], dict) else [])
    for where, results in panels:
        for backend, by_steps in results.items():
            steps = [int(s) for s in by_steps]
            for stat, style in (("p50", "-o"), ("p99", "--x")):
                ax.plot(steps, [by_steps[str(s)][stat] for s in steps], style, label=f"{where} {backend} {stat}")
    ax.axhline(report["compute_allowance_ms"], color="red", linestyle=":", label="compute allowance (D = 150 ms)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("DDIM steps per window")
    ax.set_ylabel("animator compute per hop (ms)")
    ax.set_title(f"{report['device']}: dyad, {report['window']['context_frames']}+{report['window']['new_frames']} frames", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hops", type=int, default=200)
    parser.add_argument("--steps", default="1,2,4,8")
    parser.add_argument("--backends", default="torch,onnx")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: a fresh untrained one of the default size)")
    parser.add_argument("--tiny", action="store_true", help="with no --model: tiny networks (a quick check, not a measurement)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    backends = [b.strip() for b in args.backends.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model
        if folder is None:
            folder = init_model_dir(Path(scratch) / "untrained", load_default_skeleton(), tiny=args.tiny)
            if "onnx" in backends:
                export_model_dir(folder)
        report = run_benchmark(folder, backends, steps, args.hops)
        if args.model is None:
            report["model"]["folder"] = f"a fresh untrained folder (`dyad model init{' --tiny' if args.tiny else ''}`)"
    out = args.results / report["device"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "animator_steps.json").write_text(json.dumps(report, indent=2))
    plot(report, out / "animator_steps.png")
    table = {backend: {s: v["p50"] for s, v in by.items()} for backend, by in report["cpu_ms"].items()}
    print(json.dumps({"device": report["device"], "cpu_p50_ms": table, "gpu_ms": report["gpu_ms"] if isinstance(report["gpu_ms"], str) else "measured"}, indent=2))
    print(f"results in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
