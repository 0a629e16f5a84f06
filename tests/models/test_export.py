"""ONNX export of the denoisers: named dynamic axes, parity with torch within the declared tolerance, providers, staleness."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from dyad.models.checkpoint import ModelLoadError, save_checkpoint
from dyad.models.export import ATOL, RTOL, OnnxDenoiser, example_inputs, export_denoiser, open_session, parity, spec_for
from dyad.models.model_dir import export_model_dir, load_model_dir, onnx_denoisers
from model_fixtures import tiny_body, tiny_face, tiny_model_dir


@pytest.fixture(scope="module")
def denoisers():
    body = tiny_body()
    return {"lower": body.lower.denoiser, "upper": body.upper.denoiser, "face": tiny_face().denoiser}


@pytest.mark.parametrize("name", ["lower", "upper", "face"])
def test_exported_denoiser_matches_torch_on_other_shapes_within_tolerance(denoisers, name, tmp_path):
    module = denoisers[name]
    path = export_denoiser(module, tmp_path / f"{name}.onnx")
    graph = onnx.load(str(path)).graph
    spec, _ = spec_for(module)
    assert [i.name for i in graph.input] == [t.name for t in spec.inputs]
    assert [o.name for o in graph.output] == ["x0"]
    x_t = graph.input[0].type.tensor_type.shape.dim
    assert x_t[0].dim_param == "batch" and x_t[-2].dim_param == "frames"  # named dynamic axes
    report = parity(module, path, shapes=((1, 5), (3, 31)))  # neither is the export example (2, 12)
    assert report["within_tolerance"], report
    assert report["max_abs_error"] < ATOL and (report["atol"], report["rtol"]) == (ATOL, RTOL)


def test_onnx_denoiser_is_a_drop_in_callable(denoisers, tmp_path):
    module = denoisers["face"]
    path = export_denoiser(module, tmp_path / "face.onnx")
    spec, sizes = spec_for(module)
    inputs = example_inputs(spec, sizes, batch=2, frames=10, seed=5)
    with torch.no_grad():
        expected = module(*inputs.values())
    got = OnnxDenoiser(path)(*inputs.values())
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=ATOL, rtol=RTOL)


def test_a_gpu_provider_that_cannot_start_is_an_error_not_a_silent_cpu_fallback(denoisers, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the CUDA provider may start")
    path = export_denoiser(denoisers["lower"], tmp_path / "lower.onnx")
    with pytest.raises(ValueError, match="CUDAExecutionProvider"):
        open_session(path, "cuda")
    with pytest.raises(ValueError, match="unknown ONNX Runtime device"):
        open_session(path, "tpu")


def test_model_folder_export_records_parity_and_refuses_stale_weights(tmp_path):
    folder = tiny_model_dir(tmp_path / "model")
    models = load_model_dir(folder)
    with pytest.raises(ModelLoadError, match="no ONNX export"):
        onnx_denoisers(models, "cpu")
    report = export_model_dir(folder)
    assert set(report["parity"]) == {"lower", "upper", "face"}
    assert all(p["within_tolerance"] for p in report["parity"].values())
    assert json.loads((folder / "onnx" / "export.json").read_text()) == report
    assert set(onnx_denoisers(models, "cpu")) == {"lower", "upper", "face"}
    save_checkpoint(folder / "body.safetensors", tiny_body(seed=9), trained=False)  # retrained body, old export
    with pytest.raises(ModelLoadError, match="made from other weights"):
        onnx_denoisers(load_model_dir(folder), "cpu")
    with pytest.raises(ModelLoadError, match="made from other weights"):  # same files, other face weights
        onnx_denoisers(load_model_dir(folder, "base"), "cpu")
