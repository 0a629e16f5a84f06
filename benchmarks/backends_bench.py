"""The same windows through every inference backend this machine has, timed and compared.

Windows come from one torch-eager CPU run of the dyad (8 context + 2 new frames,
random features of the real sizes, context from the run's own outputs); only
windows with a full context are kept, so every backend sees one input shape and
compiles it once. Each backend replays exactly those windows: 5 warm-up hops
(compilation, engine builds, CUDA graph capture happen there) and `--hops` timed
ones. Outputs are compared with the torch-eager CPU reference pose by pose.

Backends: torch (eager), compile (torch.compile: inductor's C++ kernels on the CPU,
mode "reduce-overhead" = CUDA graphs on a GPU), onnx (ONNX Runtime), cudagraph (the
eager denoisers captured once into CUDA graphs and replayed), tensorrt (ONNX
Runtime's TensorRT provider). Only the denoisers change; the encoders run in torch
once per window, as in a session.
"""

from __future__ import annotations

import argparse
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.benchmarks.bench_common import (add_common_args, build_animator, check_device, common_options, cuda_missing, figure,
                                          load_models, model_facts, new_report, onnx_for, parse_ints, parse_names, save,
                                          write_report)  # fmt: skip
from dyad.benchmarks.hop_timing import TimedRun, WindowShape, WindowStream, random_features, replay, run_stream
from dyad.runtime.config import SessionConfig
from dyad.runtime.stats import summarize_ms

BACKENDS = ("torch", "compile", "onnx", "cudagraph", "tensorrt")
GPU_ONLY = ("cudagraph", "tensorrt")
WARMUP_HOPS = 5
COMPILE_MODE = {"cpu": "default", "cuda": "reduce-overhead"}  # reduce-overhead = CUDA graphs, which only a GPU has


@dataclass(frozen=True)
class Variant:
    backend: str
    device: str

    @property
    def label(self) -> str:
        return f"{self.backend}@{self.device}"


def add_backends_args(parser: argparse.ArgumentParser) -> None:
    add_common_args(parser, hops=200, device="all", device_help="all (the CPU, and CUDA where torch sees it) | cpu | cuda | cuda:N")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument("--steps", default="4", help="DDIM steps per window (default 4)")


def run_backends(args: argparse.Namespace) -> int:
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    if args.device != "all":
        check_device(args.device)
    opts = common_options(args, device="cpu")  # the reference windows always come from the CPU
    backends = parse_names(args.backends, "--backends", BACKENDS)
    steps = parse_ints(args.steps, "--steps", 1, 1000)[0]
    session = SessionConfig()
    reference_models = load_models(opts.model)
    report = new_report("backends", model=model_facts(reference_models), steps=steps, hops=opts.hops)
    windows, reference = _reference_windows(reference_models, session, steps, opts.hops)
    for variant in _variants(backends, devices, report["not_measured"]):
        row = _measure(variant, opts.model, session, steps, windows, reference, report["not_measured"])
        if row is not None:
            report["rows"].append(row)
            print(f"{variant.label}: p50 {row['hop_ms_p50']:.2f} ms, p99 {row['hop_ms_p99']:.2f} ms", flush=True)
    _add_ratios(report["rows"])
    report["summary"] = _summary(report, session)
    path = write_report(report, opts.out, plot)
    print(f"results in {path.parent}")
    return 0


def _variants(backends: list[str], devices: list[str], not_measured: list[str]) -> list[Variant]:
    """torch eager first on every device (the ratios' denominator); GPU backends noted when no GPU."""
    chosen, names = [], ["torch"] + [b for b in backends if b != "torch"]
    for device in devices:
        reason = cuda_missing(device)
        for name in names:
            if device == "cpu" and name in GPU_ONLY:
                continue
            if reason:
                not_measured.append(f"{Variant(name, device).label}: {reason}")
            else:
                chosen.append(Variant(name, device))
    return chosen


def _reference_windows(models, session: SessionConfig, steps: int, hops: int) -> tuple[list, list]:
    """Windows with a full context from one torch-eager CPU stream, and that stream's poses for them."""
    from dyad.models.skeleton import load_default_skeleton

    t = session.timing
    animator = build_animator(models, load_default_skeleton(), session, steps)
    shape = WindowShape(t.context_frames, t.hop_frames, t.lookahead_frames, t.fps)
    cold = -(-t.context_frames // t.hop_frames)  # hops until the context is full
    run = run_stream(animator.animate, WindowStream(shape, random_features(animator), session.controls), cold + WARMUP_HOPS + hops)
    return run.windows[cold:], run.people[cold:]


def _measure(variant: Variant, folder: Path, session, steps: int, windows: list, reference: list, not_measured: list[str]) -> dict | None:
    from dyad.models.skeleton import load_default_skeleton

    try:
        models = load_models(folder)  # one set per variant: the generator moves its modules to the device
        denoisers = _denoisers(variant, models)
        animator = build_animator(models, load_default_skeleton(), session, steps, variant.device, denoisers,
                                  "onnx" if variant.backend in ("onnx", "tensorrt") else "torch")  # fmt: skip
        began = time.perf_counter()
        animator.animate(windows[0])  # compilation / capture / engine build, reported apart from the hops
        first_call_s = time.perf_counter() - began
        run = replay(animator.animate, windows, WARMUP_HOPS)
    except Exception as error:  # a backend that cannot start here is reported, never estimated
        not_measured.append(f"{variant.label}: {type(error).__name__}: {_first_line(error)}")
        return None
    stats = summarize_ms(run.ms, decimals=3)
    return {"backend": variant.backend, "device": variant.device, "label": variant.label,
            "mode": COMPILE_MODE[variant.device.partition(":")[0]] if variant.backend == "compile" else None,
            **{f"hop_ms_{k}": v for k, v in stats.items() if k != "count"}, "hops": stats["count"],
            "first_call_s": round(first_call_s, 3), "max_abs_diff": _differences(run, reference)}  # fmt: skip


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


def _denoisers(variant: Variant, models) -> dict | None:
    modules = {"lower": models.body.lower.denoiser, "upper": models.body.upper.denoiser, "face": models.face.denoiser}
    kind, _, index = variant.device.partition(":")
    if variant.backend == "torch":
        return None
    if variant.backend == "onnx":
        return onnx_for(models, variant.device)
    if variant.backend == "tensorrt":
        return onnx_for(models, f"tensorrt:{index or 0}")
    if variant.backend == "compile":
        _check_compiler(kind)
        import torch

        return {name: torch.compile(m.to(variant.device), mode=COMPILE_MODE[kind], dynamic=False) for name, m in modules.items()}
    return {name: CudaGraphDenoiser(m.to(variant.device)) for name, m in modules.items()}


def _check_compiler(kind: str) -> None:
    """Inductor writes C++ for the CPU: without a compiler it would fail at the first call, deep inside."""
    if kind != "cpu":
        return
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler

        get_cpp_compiler()
    except Exception as error:
        found = next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        if found is None:
            raise RuntimeError(f"torch.compile on the CPU needs a C++ compiler, none found ({_first_line(error)})") from None


class CudaGraphDenoiser:
    """A denoiser captured into one CUDA graph per input shape and replayed: at a window's sizes the
    kernel launches cost more than their math, and a replay launches them all at once."""

    def __init__(self, module) -> None:
        self.module = module
        self.graphs: dict[tuple, tuple] = {}

    def __call__(self, *inputs):
        key = tuple((tuple(x.shape), x.dtype) for x in inputs)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs)
        graph, static_inputs, static_output = self.graphs[key]
        for buffer, value in zip(static_inputs, inputs):
            buffer.copy_(value)
        graph.replay()
        return static_output.clone()  # the next replay overwrites the static output

    def _capture(self, inputs) -> tuple:
        import torch

        static_inputs = [x.clone() for x in inputs]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
            for _ in range(2):
                self.module(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = self.module(*static_inputs)
        return graph, static_inputs, static_output


def _differences(run: TimedRun, reference: list) -> dict:
    """Largest absolute difference to the torch-eager CPU poses over every replayed window."""
    worst = {"root_cm": 0.0, "rotation_rad": 0.0, "face": 0.0}
    for got, want in zip(run.people, reference):
        for mine, theirs in zip(got[0] + got[1], want[0] + want[1]):
            pairs = {"root_cm": (mine.root_position, theirs.root_position), "rotation_rad": (mine.joint_rotations, theirs.joint_rotations),
                     "face": (mine.face, theirs.face)}  # fmt: skip
            for key, (a, b) in pairs.items():
                worst[key] = max(worst[key], float(np.max(np.abs(np.asarray(a) - np.asarray(b)))))
    return worst


def _add_ratios(rows: list[dict]) -> None:
    eager = {r["device"]: r for r in rows if r["backend"] == "torch"}
    for row in rows:
        base = eager.get(row["device"])
        for stat in ("p50", "p99"):
            row[f"ratio_{stat}_vs_torch_eager"] = round(row[f"hop_ms_{stat}"] / base[f"hop_ms_{stat}"], 3) if base else None


def _summary(report: dict, session: SessionConfig) -> dict:
    rows = report["rows"]
    fastest = min(rows, key=lambda r: r["hop_ms_p99"]) if rows else None
    return {
        "measures": "wall time of one LearnedAnimator.animate call per hop (both people; lower, upper, face; all steps), "
        "the same windows for every backend; ratio = this backend's time / torch eager's on the same device",
        "max_abs_diff_against": "torch eager on the CPU, same windows and seeds; root in cm, joint rotations in rad (exp-map), face values",
        "compute_allowance_ms": round(session.timing.budget_ms - session.minimum_budget_ms(), 3),
        "fastest_p99": fastest["label"] if fastest else None,
        "warmup_hops": WARMUP_HOPS,
    }


def plot(report: dict, path: Path) -> None:
    fig, axes = figure(1)
    ax = axes[0][0]
    rows = report["rows"]
    labels = [r["label"] for r in rows]
    y = np.arange(len(rows))
    ax.barh(y - 0.2, [r["hop_ms_p50"] for r in rows], height=0.4, label="p50")
    ax.barh(y + 0.2, [r["hop_ms_p99"] for r in rows], height=0.4, label="p99")
    ax.set_yticks(y, labels)
    ax.axvline(report["summary"]["compute_allowance_ms"], color="red", linestyle=":", label="compute allowance")
    ax.set_xlabel(f"compute per hop (ms), {report['steps']} steps")
    ax.set_title(f"{report['device']}: backends" + (f" (not measured: {len(report['not_measured'])})" if report["not_measured"] else ""), fontsize=8)
    ax.legend(fontsize=7)
    save(fig, path)
