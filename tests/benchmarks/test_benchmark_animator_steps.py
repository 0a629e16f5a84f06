"""The animator-steps benchmark produces its JSON and PNG (numbers are never asserted: CI does not fail on speed)."""

from __future__ import annotations

import json

import torch

from dyad.benchmarks.animator_steps import main
from dyad.benchmarks.session_latency import device_name
from dyad.runtime.config import TimingConfig


def test_animator_steps_benchmark_writes_json_and_png(tmp_path):
    assert main(["--tiny", "--hops", "3", "--steps", "1,2", "--results", str(tmp_path)]) == 0
    folder = tmp_path / device_name()
    report = json.loads((folder / "animator_steps.json").read_text())
    assert report["benchmark"] == "animator_steps" and report["device"] == device_name()
    assert set(report["cpu_ms"]) == {"torch", "onnx"}
    for backend in ("torch", "onnx"):
        assert set(report["cpu_ms"][backend]) == {"1", "2"}
        assert report["cpu_ms"][backend]["1"]["count"] == 3
    assert report["window"] == {"context_frames": 8, "new_frames": TimingConfig().hop_frames, "lookahead_frames": 0, "fps": 30}
    assert report["model"]["trained"] is False
    if not torch.cuda.is_available():
        assert report["gpu_ms"].startswith("not measured")
    png = (folder / "animator_steps.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
