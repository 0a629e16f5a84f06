"""Wav2Vec2 speech encoder from a local folder, in Hugging Face or torchaudio layout.

Hugging Face layout: the folder `Wav2Vec2Model.save_pretrained` (or
`Wav2Vec2ForCTC.save_pretrained`) writes, `config.json` with model_type
"wav2vec2" plus weights. An optional `preprocessor_config.json` with
`"do_normalize": true` makes every encoded window zero-mean, unit-variance
first, as the checkpoint was trained.

torchaudio layout (defined here; `save_torchaudio_wav2vec2` writes it):
    wav2vec2_torchaudio.json  {"format": "torchaudio.wav2vec2", "version": 1,
                               "params": {keyword arguments of torchaudio.models.wav2vec2_model},
                               "normalize": false}
    model.pt                  torch.save(model.state_dict())
The weights load strictly: a state dict of another shape is refused.

The convolutional front end maps samples to frames: frame i covers samples
[i * stride, i * stride + receptive_field) (320 and 400 for every released
Wav2Vec2, i.e. 50 frames per second at 16 kHz).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dyad.models.local_checkpoints import (
    CheckpointError,
    checkpoint_folder,
    first_line,
    import_transformers,
    load_failure,
    read_json,
    require_model_type,
    torch_device,
)

WHAT = "Wav2Vec2"
SAMPLE_RATE = 16000
TORCHAUDIO_CONFIG = "wav2vec2_torchaudio.json"
TORCHAUDIO_WEIGHTS = "model.pt"
TORCHAUDIO_FORMAT = "torchaudio.wav2vec2"
# torchaudio's default front end (extractor_conv_layer_config=None): the released Wav2Vec2 one
DEFAULT_CONV_LAYERS = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
NORMALIZE_EPS = 1e-7  # as the Hugging Face feature extractor


@dataclass(frozen=True)
class FrameGeometry:
    """How the convolutional front end maps samples to encoder frames."""

    stride: int  # samples between frames
    receptive_field: int  # samples one frame depends on

    @classmethod
    def from_convs(cls, kernels: list[int], strides: list[int]) -> FrameGeometry:
        field, jump = 1, 1
        for kernel, stride in zip(kernels, strides):
            field += (kernel - 1) * jump
            jump *= stride
        return cls(stride=jump, receptive_field=field)

    def frames_in(self, samples: int) -> int:
        return 0 if samples < self.receptive_field else (samples - self.receptive_field) // self.stride + 1


class Wav2Vec2Encoder:
    """One loaded encoder: float32 audio [batch, samples] at 16 kHz -> features [batch, frames, dim]."""

    def __init__(self, model: torch.nn.Module, layout: str, geometry: FrameGeometry, dim: int, normalize: bool, device: torch.device, folder: Path) -> None:
        self.model = model.eval().to(device)
        self.layout = layout  # "huggingface" | "torchaudio"
        self.geometry = geometry
        self.dim = dim
        self.normalize = normalize
        self.device = device
        self.folder = folder

    def encode(self, audio: np.ndarray) -> np.ndarray:
        if audio.ndim != 2 or audio.shape[1] < self.geometry.receptive_field:
            raise ValueError(f"Wav2Vec2 input must be [batch, >= {self.geometry.receptive_field} samples], got {audio.shape}")
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
        if self.normalize:
            x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + NORMALIZE_EPS)
        with torch.inference_mode():
            if self.layout == "huggingface":
                features = self.model(x).last_hidden_state
            else:
                features, _ = self.model(x)
        return features.float().cpu().numpy()


def load_wav2vec2(path: str | Path, device: str = "cpu") -> Wav2Vec2Encoder:
    """Load from a Hugging Face or torchaudio layout folder (detected by its files)."""
    folder = checkpoint_folder(path, WHAT)
    target = torch_device(device)
    if (folder / TORCHAUDIO_CONFIG).is_file():
        return _load_torchaudio(folder, target)
    if (folder / "config.json").is_file():
        return _load_huggingface(folder, target)
    raise CheckpointError(f"{WHAT}: {folder} has neither config.json (Hugging Face layout) nor {TORCHAUDIO_CONFIG} (torchaudio layout)")


def _load_huggingface(folder: Path, device: torch.device) -> Wav2Vec2Encoder:
    require_model_type(folder, WHAT, ("wav2vec2",))
    transformers = import_transformers()
    try:
        model, info = transformers.Wav2Vec2Model.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    except Exception as error:  # OSError, ValueError, safetensors and size-mismatch errors alike
        raise load_failure(WHAT, folder, error) from None
    # A weights file of another model loads "successfully" with everything left random: refuse it.
    missing = [key for key in info.get("missing_keys", ()) if "masked_spec_embed" not in key]
    if missing:
        raise CheckpointError(f"{WHAT}: {folder} weights do not match its config ({len(missing)} tensors missing, e.g. {missing[0]})")
    config = model.config
    geometry = FrameGeometry.from_convs(list(config.conv_kernel), list(config.conv_stride))
    normalize = False
    preprocessor = folder / "preprocessor_config.json"
    if preprocessor.is_file():
        normalize = bool(read_json(preprocessor, WHAT).get("do_normalize", False))
    return Wav2Vec2Encoder(model, "huggingface", geometry, int(config.hidden_size), normalize, device, folder)


def _load_torchaudio(folder: Path, device: torch.device) -> Wav2Vec2Encoder:
    import torchaudio

    spec = read_json(folder / TORCHAUDIO_CONFIG, WHAT)
    if spec.get("format") != TORCHAUDIO_FORMAT or not isinstance(spec.get("params"), dict):
        raise CheckpointError(f"{WHAT}: {folder / TORCHAUDIO_CONFIG} is not a '{TORCHAUDIO_FORMAT}' description with a 'params' object")
    params = spec["params"]
    try:
        model = torchaudio.models.wav2vec2_model(**params)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{WHAT}: bad params in {folder / TORCHAUDIO_CONFIG}: {first_line(error)}") from None
    weights = folder / TORCHAUDIO_WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{WHAT}: {folder} has no {TORCHAUDIO_WEIGHTS}")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as error:  # unpickling errors, truncated files, key or shape mismatches
        raise load_failure(WHAT, folder, error) from None
    convs = params.get("extractor_conv_layer_config") or DEFAULT_CONV_LAYERS
    geometry = FrameGeometry.from_convs([c[1] for c in convs], [c[2] for c in convs])
    return Wav2Vec2Encoder(model, "torchaudio", geometry, int(params["encoder_embed_dim"]), bool(spec.get("normalize", False)), device, folder)


def save_torchaudio_wav2vec2(model: torch.nn.Module, params: dict, folder: str | Path, normalize: bool = False) -> Path:
    """Write `model` (built by torchaudio.models.wav2vec2_model(**params)) in the torchaudio layout above."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    spec = {"format": TORCHAUDIO_FORMAT, "version": 1, "params": params, "normalize": normalize}
    (target / TORCHAUDIO_CONFIG).write_text(json.dumps(spec, indent=2))
    torch.save(model.state_dict(), target / TORCHAUDIO_WEIGHTS)
    return target
