"""ONNX export of the denoisers, declared as data and validated against torch.

Each denoiser is one `ExportSpec`: named inputs and outputs with named axes. Axes
named in `DYNAMIC_AXES` (batch, frames) stay free in the graph; every other axis
name is a size read from the model. `export_denoiser` writes the graph,
`parity` runs ONNX Runtime and torch on fresh random inputs of other shapes than
the export example and returns the largest error, and `check_parity` fails beyond
an explicit tolerance. `OnnxDenoiser` runs an exported graph on the CPU, CUDA or
TensorRT provider and refuses, at load time, a provider that cannot start.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from dyad.models.body_net import BodyDenoiser
from dyad.models.face_net import FaceDenoiser

DYNAMIC_AXES = ("batch", "frames")
OPSET = 17
ATOL = 1e-4  # fp32 CPU kernels of ORT and torch differ in summation order only
RTOL = 1e-3
PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    axes: tuple[str | int, ...]  # names from DYNAMIC_AXES, names of model sizes, or fixed numbers
    dtype: str = "float32"


@dataclass(frozen=True)
class ExportSpec:
    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    atol: float = ATOL
    rtol: float = RTOL

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {
            tensor.name: {i: axis for i, axis in enumerate(tensor.axes) if axis in DYNAMIC_AXES}
            for tensor in self.inputs + self.outputs
        }


BODY_DENOISER = ExportSpec(
    name="body_denoiser",
    inputs=(
        TensorSpec("x_t", ("batch", 2, "frames", "x_dim")),
        TensorSpec("t", ("batch",)),
        TensorSpec("cond", ("batch", 2, "frames", "width")),
        TensorSpec("glob", ("batch", 2, "width")),
    ),
    outputs=(TensorSpec("x0", ("batch", 2, "frames", "x_dim")),),
)
FACE_DENOISER = ExportSpec(
    name="face_denoiser",
    inputs=(
        TensorSpec("x_t", ("batch", "frames", "x_dim")),
        TensorSpec("t", ("batch",)),
        TensorSpec("audio", ("batch", "frames", "width")),
        TensorSpec("motion", ("batch", "frames", "width")),
        TensorSpec("style", ("batch", "width")),
    ),
    outputs=(TensorSpec("x0", ("batch", "frames", "x_dim")),),
)


def spec_for(module: nn.Module) -> tuple[ExportSpec, dict[str, int]]:
    """The spec of a denoiser module and the sizes that fill its named axes."""
    if isinstance(module, BodyDenoiser):
        return BODY_DENOISER, {"x_dim": module.x_dim, "width": module.width}
    if isinstance(module, FaceDenoiser):
        return FACE_DENOISER, {"x_dim": module.out.out_features, "width": module.width}
    raise TypeError(f"no export spec for {type(module).__name__}")


def example_inputs(spec: ExportSpec, sizes: dict[str, int], batch: int, frames: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    axes = {**sizes, "batch": batch, "frames": frames}
    out = {}
    for tensor in spec.inputs:
        shape = tuple(axes[a] if isinstance(a, str) else a for a in tensor.axes)
        values = torch.randn(shape, generator=generator)
        out[tensor.name] = values.abs() * 300.0 if tensor.name == "t" else values  # steps are 0..999
    return out


def export_denoiser(module: nn.Module, path: str | Path) -> Path:
    spec, sizes = spec_for(module)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = example_inputs(spec, sizes, batch=2, frames=12)
    # The TorchScript exporter is deprecated in torch 2.9+, but the dynamo one needs onnxscript,
    # which this project does not ship; parity below is what proves the graph right.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module.eval(),
            tuple(inputs.values()),
            str(path),
            input_names=[t.name for t in spec.inputs],
            output_names=[t.name for t in spec.outputs],
            dynamic_axes=spec.dynamic_axes(),
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as declared
        )
    return path


def parity(module: nn.Module, path: str | Path, shapes: tuple[tuple[int, int], ...] = ((1, 10), (3, 23))) -> dict:
    """Largest absolute and relative error of ORT against torch over fresh inputs of `shapes` (batch, frames)."""
    spec, sizes = spec_for(module)
    session = open_session(path, "cpu")
    worst_abs, worst_excess = 0.0, -np.inf
    for seed, (batch, frames) in enumerate(shapes, start=1):
        inputs = example_inputs(spec, sizes, batch, frames, seed=seed)
        with torch.no_grad():
            reference = module(*inputs.values()).numpy()
        got = session.run(None, {name: value.numpy() for name, value in inputs.items()})[0]
        error = np.abs(got - reference)
        worst_abs = max(worst_abs, float(error.max()))
        worst_excess = max(worst_excess, float((error - spec.atol - spec.rtol * np.abs(reference)).max()))
    return {"spec": spec.name, "max_abs_error": worst_abs, "atol": spec.atol, "rtol": spec.rtol, "within_tolerance": worst_excess <= 0.0}


def check_parity(module: nn.Module, path: str | Path) -> dict:
    report = parity(module, path)
    if not report["within_tolerance"]:
        raise ValueError(f"{path}: ONNX output differs from torch by {report['max_abs_error']:.3g} (tolerance atol {report['atol']:g} + rtol {report['rtol']:g})")
    return report


def open_session(path: str | Path, device: str, threads: int = 1, device_id: int = 0):
    """An ONNX Runtime session on `device` (cpu | cuda | tensorrt, GPU `device_id`); ValueError if that
    provider does not start (ORT itself would silently fall back to the CPU)."""
    import onnxruntime as ort

    if device not in PROVIDERS:
        raise ValueError(f"unknown ONNX Runtime device {device!r} (expected one of {', '.join(PROVIDERS)})")
    wanted = PROVIDERS[device]
    available = ort.get_available_providers()
    if wanted[0] not in available:
        raise ValueError(f"ONNX Runtime here has no {wanted[0]} (available: {', '.join(available)})")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # a provider that fails is reported below as one line, not as a log dump
    # One thread, no spin-waiting: a window's matrices are small, and a second spinning thread
    # fights the audio and emitter threads for the cores (measured slower, never faster, here).
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = [(name, {"device_id": device_id}) if name != "CPUExecutionProvider" else name for name in wanted]
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    if session.get_providers()[0] != wanted[0]:
        raise ValueError(f"ONNX Runtime could not start {wanted[0]} for {Path(path).name} (it fell back to {session.get_providers()[0]})")
    return session


class OnnxDenoiser:
    """An exported denoiser as a callable with the torch module's signature (tensors in, tensor out)."""

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 1, device_id: int = 0) -> None:
        self.path = Path(path)
        self.session = open_session(path, device, threads, device_id)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        feed = {name: value.detach().cpu().numpy().astype(np.float32, copy=False) for name, value in zip(self.input_names, inputs)}
        return torch.from_numpy(self.session.run(None, feed)[0])


DenoiserFn = Callable[..., torch.Tensor]
