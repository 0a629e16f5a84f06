"""One window for a dyad: lower body, then upper body, then face, both people in every call.

The body nets carry both people on their person axis (one batch row per dyad);
the face net takes the two people as two batch rows. Per window each encoder runs
once; each denoiser runs `steps` times inside `sample_ddim`, with the window's
known past-context frames inpainted. The denoisers are plain callables, so the
torch modules and their ONNX Runtime exports are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dyad.models.body_net import BodyModel
from dyad.models.diffusion import alphas_cumprod, sample_ddim
from dyad.models.export import DenoiserFn
from dyad.models.face_net import FaceModel


@dataclass(frozen=True)
class DyadInputs:
    """Conditions and context of one window, person axis first (arrays, float32 unless noted)."""

    mel: np.ndarray  # [2, T, M]
    words: np.ndarray  # [2, T, W]
    no_text: np.ndarray  # [2, T]
    actions: np.ndarray  # [2, T] int64, index into model_config.ACTIONS
    placement: np.ndarray  # [2, 4]
    wav2vec: np.ndarray  # [2, T, V] the face model's audio: Wav2Vec2, or log-mel when its config.audio_input is "mel"
    speakers: np.ndarray  # [2] int64
    facing: bool
    lower_known: np.ndarray  # [2, T, Dl] raw (not normalised) context values; anything where the mask is 0
    lower_mask: np.ndarray  # [2, T, Dl]
    upper_known: np.ndarray  # [2, T, Du]
    upper_mask: np.ndarray
    face_known: np.ndarray  # [2, T, F]
    face_mask: np.ndarray


@dataclass(frozen=True)
class DyadOutputs:
    lower: np.ndarray  # [2, T, Dl] raw features
    upper: np.ndarray  # [2, T, Du]
    face: np.ndarray  # [2, T, F]


def _t(array: np.ndarray, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


class DyadGenerator:
    def __init__(
        self,
        body: BodyModel,
        face: FaceModel,
        device: str = "cpu",
        denoisers: dict[str, DenoiserFn] | None = None,
    ) -> None:
        """`denoisers` may replace the torch denoisers by name: "lower", "upper", "face"."""
        self.device = torch.device(device)
        self.body = body.to(self.device).eval()
        self.face = face.to(self.device).eval()
        modules = {"lower": self.body.lower.denoiser, "upper": self.body.upper.denoiser, "face": self.face.denoiser}
        self.denoisers: dict[str, DenoiserFn] = {**modules, **(denoisers or {})}
        self.body_schedule = alphas_cumprod(body.config.diffusion.train_steps, body.config.diffusion.schedule)
        self.face_schedule = alphas_cumprod(face.config.diffusion.train_steps, face.config.diffusion.schedule)

    @torch.inference_mode()
    def generate(self, inputs: DyadInputs, steps: int, seed: int) -> DyadOutputs:
        generator = torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
        lower = self._lower(inputs, steps, generator)
        upper = self._upper(inputs, lower, steps, generator)
        face = self._face(inputs, steps, generator)
        lower_raw = self.body.lower.norm.denormalize(lower)[0]
        upper_raw = self.body.upper.norm.denormalize(upper)[0]
        face_raw = self.face.norm.denormalize(face)
        return DyadOutputs(*(x.double().cpu().numpy() for x in (lower_raw, upper_raw, face_raw)))

    def _sample(self, name: str, schedule, cond: tuple, known, mask, steps: int, generator: torch.Generator) -> torch.Tensor:
        denoiser = self.denoisers[name]
        batch = known.shape[0]

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return denoiser(x, t.expand(batch).to(self.device), *cond).to(self.device)

        # drawn on the CPU from the seeded generator: the same window gives the same noise on any device
        noise = torch.randn(tuple(known.shape), generator=generator).to(self.device)
        return sample_ddim(denoise, noise, schedule.to(self.device), steps, generator=generator, known=known, mask=mask)

    def _body_conditions(self, inputs: DyadInputs) -> tuple[torch.Tensor, ...]:
        d = self.device
        return (
            _t(inputs.mel, d)[None],
            _t(inputs.words, d)[None],
            _t(inputs.no_text, d)[None],
            _t(inputs.actions, d, torch.int64)[None],
            _t(inputs.placement, d)[None],
        )

    def _lower(self, inputs: DyadInputs, steps: int, generator: torch.Generator) -> torch.Tensor:
        net = self.body.lower
        known = net.norm.normalize(_t(inputs.lower_known, self.device))[None]
        mask = _t(inputs.lower_mask, self.device)[None]
        known = torch.where(mask > 0, known, 0.0)  # values under a zero mask are ignored; keep them finite
        cond = net.encoder(*self._body_conditions(inputs), known, mask)
        return self._sample("lower", self.body_schedule, cond, known, mask, steps, generator)

    def _upper(self, inputs: DyadInputs, lower: torch.Tensor, steps: int, generator: torch.Generator) -> torch.Tensor:
        net = self.body.upper
        known = net.norm.normalize(_t(inputs.upper_known, self.device))[None]
        mask = _t(inputs.upper_mask, self.device)[None]
        known = torch.where(mask > 0, known, 0.0)
        cond = net.encoder(*self._body_conditions(inputs), known, mask, extra=lower)
        return self._sample("upper", self.body_schedule, cond, known, mask, steps, generator)

    def _face(self, inputs: DyadInputs, steps: int, generator: torch.Generator) -> torch.Tensor:
        d, config = self.device, self.face.config
        wav2vec = _t(inputs.wav2vec, d)
        speaker = torch.nn.functional.one_hot(_t(inputs.speakers, d, torch.int64), config.speakers).float()
        facing = torch.tensor([[1.0, 0.0] if inputs.facing else [0.0, 1.0]] * 2, device=d)
        known = self.face.norm.normalize(_t(inputs.face_known, d))
        mask = _t(inputs.face_mask, d)
        known = torch.where(mask > 0, known, 0.0)
        cond = self.face.encoder(wav2vec, wav2vec[[1, 0]], speaker, facing, known, mask)
        return self._sample("face", self.face_schedule, cond, known, mask, steps, generator)
