"""What the model benchmarks share: common options, loading, the animator they time, the report.

Every benchmark writes `<name>.json` and `<name>.png` to `--out` (default
`benchmarks/results/<device-name>/`). The JSON always has `benchmark`, `device`,
`machine`, `rows` (one dict per measured configuration), `summary` and
`not_measured` (configurations this machine could not run, each with the reason:
nothing is estimated in their place). Bad options raise `DyadError` with one line.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from dyad.models.bundled import DEFAULT_MODEL_DIR
from dyad.runtime.errors import DyadError

REPORT_KEYS = ("benchmark", "device", "machine", "rows", "summary", "not_measured")
DEVICE = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class CommonOptions:
    model: Path
    hops: int
    out: Path
    device: str


def add_common_args(parser: argparse.ArgumentParser, hops: int, hops_help: str = "timed hops per configuration",
                    device: str = "cpu", device_help: str = "cpu | cuda | cuda:N") -> None:  # fmt: skip
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_DIR, metavar="DIR", help="model folder (default: the bundled model)")
    parser.add_argument("--hops", type=int, default=hops, help=f"{hops_help} (default {hops})")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="results folder (default: benchmarks/results/<device-name>/)")
    parser.add_argument("--device", default=device, help=f"{device_help} (default {device})")


def common_options(args: argparse.Namespace, device: str | None = None) -> CommonOptions:
    """Checked common options; `device` overrides --device (a benchmark that reads it itself)."""
    if args.hops < 1:
        raise DyadError(f"--hops must be at least 1, got {args.hops}")
    device = device or args.device
    check_device(device)
    return CommonOptions(Path(args.model), args.hops, results_dir(args.out), device)


def results_dir(out: Path | None) -> Path:
    from dyad.benchmarks.session_latency import DEFAULT_RESULTS, device_name

    return Path(out) if out is not None else DEFAULT_RESULTS / device_name()


def check_device(device: str) -> None:
    if not DEVICE.fullmatch(device):
        raise DyadError(f"--device must be cpu, cuda or cuda:N, got '{device}'")
    reason = cuda_missing(device)
    if reason:
        raise DyadError(f"--device {device}: {reason}")


def cuda_missing(device: str = "cuda") -> str:
    """Why `device` cannot run here ('' when it can)."""
    if not device.startswith("cuda"):
        return ""
    import torch

    index = int(device.partition(":")[2] or 0)
    if torch.cuda.device_count() <= index:
        return f"torch sees {torch.cuda.device_count()} CUDA devices on this machine"
    return ""


def parse_ints(text: str, option: str, low: int, high: int) -> list[int]:
    try:
        values = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise DyadError(f"{option} must be whole numbers separated by commas, got '{text}'") from None
    if not values or any(not low <= v <= high for v in values):
        raise DyadError(f"{option} must be {low}..{high} (comma-separated), got '{text}'")
    return values


def parse_names(text: str, option: str, allowed: tuple[str, ...]) -> list[str]:
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise DyadError(f"{option}: unknown '{','.join(unknown) or text}' (expected some of {', '.join(allowed)})")
    return names


def load_models(folder: Path, face_weights: str | None = None):
    from dyad.models.checkpoint import ModelLoadError
    from dyad.models.model_dir import load_model_dir

    try:
        return load_model_dir(folder, face_weights)
    except ModelLoadError as error:
        raise DyadError(str(error)) from None


def onnx_for(models, device: str, threads: int = 1) -> dict:
    """ONNX Runtime denoisers on `device` (cpu | cuda[:N] | tensorrt[:N]); a missing or stale export is a DyadError."""
    from dyad.models.checkpoint import ModelLoadError
    from dyad.models.model_dir import onnx_denoisers

    kind, _, index = device.partition(":")
    try:
        return onnx_denoisers(models, kind, threads, int(index or 0))
    except ModelLoadError as error:
        raise DyadError(str(error)) from None


def build_animator(models, skeleton, session, steps: int, device: str = "cpu", denoisers: dict | None = None, backend: str = "torch"):
    """A LearnedAnimator with a fixed step count, built directly as `dyad eval` builds it, so a
    benchmark may go past the live session's 8 steps. `models` moves to `device`: load one set per device."""
    from dyad.runtime.animate.learned_animator import LearnedAnimator
    from dyad.runtime.animate.learned_config import LearnedConfig

    config = replace(LearnedConfig(models.folder, backend=backend, device=device, adapt=False), steps=steps)
    return LearnedAnimator(models, skeleton, config, session.timing.fps, session.seed, denoisers)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Intra-op threads of this thread for a block (work that is not timed, e.g. the quality sessions:
    on a small shared machine extra threads only spin against each other)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def machine_info() -> dict:
    import onnxruntime
    import torch

    from dyad.runtime.session import _cpu_count

    info = {"platform": platform.platform(), "processor": platform.machine(), "cpus": _cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "onnxruntime_providers": onnxruntime.get_available_providers(), "cuda_devices": torch.cuda.device_count()}  # fmt: skip
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def model_facts(models) -> dict:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"folder": str(models.folder), "trained": models.trained, "face_weights": models.face_weights,
            "body_parameters": count(models.body), "face_parameters": count(models.face)}  # fmt: skip


def new_report(name: str, **fields) -> dict:
    from dyad.benchmarks.session_latency import device_name

    return {"benchmark": name, "device": device_name(), "machine": machine_info(), "rows": [], "summary": {}, "not_measured": [], **fields}


def write_report(report: dict, out: Path, plot: Callable[[dict, Path], None]) -> Path:
    """`<benchmark>.json` and `<benchmark>.png` under `out`; returns the JSON path."""
    missing = [key for key in REPORT_KEYS if key not in report]
    if missing:
        raise ValueError(f"report lacks {missing}")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{report['benchmark']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, out / f"{report['benchmark']}.png")
    return path


def figure(columns: int = 1, width: float = 7.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, columns, figsize=(width, 4), squeeze=False)


def save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
