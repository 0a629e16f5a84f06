"""Configuration of the learned animator (light: no torch, so the CLI can build its parser fast)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dyad.runtime.errors import DyadError
from dyad.runtime.animate.motion_filter import OneEuroConfig
from dyad.runtime.animate.root_anchor import AnchorConfig

BACKENDS = ("torch", "onnx")
DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")
FACE_WEIGHTS = ("base", "swapped", "finetuned")
MAX_STEPS = 8


@dataclass(frozen=True)
class LearnedConfig:
    model_dir: Path
    steps: int = 4  # DDIM steps per window (the most; adaptation may use fewer)
    backend: str = "torch"  # torch | onnx (the denoisers; encoders run in torch once per window)
    device: str = "cpu"  # cpu | cuda | cuda:N
    tensorrt: bool = False  # onnx on cuda: try the TensorRT provider first
    face_weights: str | None = None  # base | swapped | finetuned; None: what model.json says
    adapt: bool = True  # lower steps when compute nears the budget (never offline)
    speakers: tuple[int, int] = (0, 1)  # speaker one-hot index per person
    cpu_threads: int = 1  # intra-op threads of CPU inference (torch: on the animator's own thread; ORT: per session)
    # The body's run-time filter, chosen on synthetic held-out dialogues by `dyad bench body-filter` (body_filter.json):
    # 3 Hz, beta 3 keeps 73 / 87 % of the capture's wrist speed (mean / p95) where beta 0.3 kept 56 / 63 %.
    smoothing: OneEuroConfig | None = OneEuroConfig(min_cutoff_hz=3.0, beta=3.0)  # None: the raw samples, hop seams and all
    anchor: AnchorConfig | None = AnchorConfig()  # None: roots follow the model's deltas only
    mel_normalize: bool = True  # per-person running log-mel normalisation onto the model folder's mel_reference.json, if it has one

    def validate(self) -> LearnedConfig:
        if not 1 <= self.steps <= MAX_STEPS:
            raise DyadError(f"--steps must be 1..{MAX_STEPS}, got {self.steps}")
        if self.face_weights is not None and self.face_weights not in FACE_WEIGHTS:
            raise DyadError(f"--face-weights must be one of {', '.join(FACE_WEIGHTS)}, got '{self.face_weights}'")
        if self.backend not in BACKENDS:
            raise DyadError(f"--backend must be one of {', '.join(BACKENDS)}, got '{self.backend}'")
        if not DEVICE_PATTERN.fullmatch(self.device):
            raise DyadError(f"--device must be cpu, cuda or cuda:N, got '{self.device}'")
        if self.tensorrt and (self.backend != "onnx" or self.device == "cpu"):
            raise DyadError("TensorRT needs --backend onnx --device cuda")
        if not 1 <= self.cpu_threads <= 64:
            raise DyadError(f"learned.cpu_threads must be 1..64, got {self.cpu_threads}")
        try:
            for part in (self.smoothing, self.anchor):
                if part is not None:
                    part.validate()
        except ValueError as error:
            raise DyadError(str(error)) from None
        return self
