"""One window for a dyad: lower body, then upper body, then face, both people in every call.

The body nets carry both people on their person axis (one batch row per dyad);
the face net takes the two people as two batch rows. Per window each encoder runs
once; each denoiser runs `steps` times inside `sample_ddim`, with the window's
known past-context frames inpainted. The denoisers are plain callables, so the
torch modules and their ONNX Runtime exports are interchangeable.

`generate_batch` serves N dyads with the same window length at once: body batch N,
face batch 2N, one denoiser call per step for all of them. Each dyad keeps its own
seeded noise generator, so its result equals its own `generate` call up to the
summation order of batched kernels.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from dyad.models.body_net import BodyModel
from dyad.models.diffusion import Sampler, alphas_cumprod, ddim_timesteps, randn, sample_ddim
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


StageTimer = Callable[[str], AbstractContextManager]  # "lower" | "upper" | "face" -> a block that times it


def _untimed(name: str) -> AbstractContextManager:
    return nullcontext()


def _t(array: np.ndarray, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)


class DyadGenerator:
    def __init__(
        self,
        body: BodyModel,
        face: FaceModel,
        device: str = "cpu",
        denoisers: dict[str, DenoiserFn] | None = None,
        sampler: Sampler = sample_ddim,
        timer: StageTimer | None = None,
    ) -> None:
        """`denoisers` may replace the torch denoisers by name: "lower", "upper", "face". `sampler` runs each
        denoiser over a DDIM timestep grid; `timer` (the caller's stage timer, e.g. the session's stats:
        models/ cannot import runtime/, so it is handed in) times lower body, upper body and face."""
        self.device = torch.device(device)
        self.body = body.to(self.device).eval()
        self.face = face.to(self.device).eval()
        modules = {"lower": self.body.lower.denoiser, "upper": self.body.upper.denoiser, "face": self.face.denoiser}
        self.denoisers: dict[str, DenoiserFn] = {**modules, **(denoisers or {})}
        self.sampler = sampler
        self.timer: StageTimer = timer or _untimed
        self.body_schedule = alphas_cumprod(body.config.diffusion.train_steps, body.config.diffusion.schedule)
        self.face_schedule = alphas_cumprod(face.config.diffusion.train_steps, face.config.diffusion.schedule)

    def generate(self, inputs: DyadInputs, steps: int, seed: int) -> DyadOutputs:
        return self.generate_batch([inputs], steps, [seed])[0]

    @torch.inference_mode()
    def generate_batch(self, inputs: Sequence[DyadInputs], steps: int, seeds: Sequence[int]) -> list[DyadOutputs]:
        """N dyads' windows (one length) in one model call per denoiser per DDIM step."""
        if not inputs or len(inputs) != len(seeds):
            raise ValueError(f"generate_batch needs one seed per dyad, got {len(inputs)} dyads and {len(seeds)} seeds")
        if len({i.mel.shape[1] for i in inputs}) > 1:
            raise ValueError("generate_batch needs windows of one length")
        # one generator per dyad, drawn in generate()'s order: dyad i gets the noise of its own call
        generators = [torch.Generator().manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF) for seed in seeds]
        with self._stage("lower"):
            lower = self._lower(inputs, steps, generators)
        with self._stage("upper"):
            upper = self._upper(inputs, lower, steps, generators)
        with self._stage("face"):
            face = self._face(inputs, steps, generators)
        lower_raw = self.body.lower.norm.denormalize(lower)
        upper_raw = self.body.upper.norm.denormalize(upper)
        face_raw = self.face.norm.denormalize(face).reshape(len(inputs), 2, *face.shape[1:])
        arrays = [x.double().cpu().numpy() for x in (lower_raw, upper_raw, face_raw)]
        return [DyadOutputs(*(x[i] for x in arrays)) for i in range(len(inputs))]

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        with self.timer(name):
            yield
            if self.timer is not _untimed and self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # the stage's time must include its kernels, not only their launch

    def _sample(self, name: str, schedule, cond: tuple, known, mask, steps: int, generators: list[torch.Generator]) -> torch.Tensor:
        denoiser = self.denoisers[name]
        batch = known.shape[0]

        def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return denoiser(x, t.expand(batch).to(self.device), *cond).to(self.device)

        # drawn on the CPU from the seeded generator: the same window gives the same noise on any device
        noise = randn(tuple(known.shape), generators).to(self.device)
        timesteps = ddim_timesteps(schedule.shape[0], steps)
        return self.sampler(denoise, noise, schedule.to(self.device), timesteps, generator=generators, known=known, mask=mask)

    def _dyads(self, batch: Sequence[DyadInputs], name: str, dtype=torch.float32) -> torch.Tensor:
        """One field of every dyad, dyad axis first: [N, 2, ...] (the body nets' batch)."""
        return _t(np.stack([getattr(inputs, name) for inputs in batch]), self.device, dtype)

    def _people(self, batch: Sequence[DyadInputs], name: str, dtype=torch.float32) -> torch.Tensor:
        """One field of every person, dyad after dyad: [2N, ...] (the face net's batch)."""
        return _t(np.concatenate([getattr(inputs, name) for inputs in batch]), self.device, dtype)

    def _body_conditions(self, batch: Sequence[DyadInputs]) -> tuple[torch.Tensor, ...]:
        return (
            self._dyads(batch, "mel"),
            self._dyads(batch, "words"),
            self._dyads(batch, "no_text"),
            self._dyads(batch, "actions", torch.int64),
            self._dyads(batch, "placement"),
        )

    def _lower(self, batch: Sequence[DyadInputs], steps: int, generators: list[torch.Generator]) -> torch.Tensor:
        net = self.body.lower
        known = net.norm.normalize(self._dyads(batch, "lower_known"))
        mask = self._dyads(batch, "lower_mask")
        known = torch.where(mask > 0, known, 0.0)  # values under a zero mask are ignored; keep them finite
        cond = net.encoder(*self._body_conditions(batch), known, mask)
        return self._sample("lower", self.body_schedule, cond, known, mask, steps, generators)

    def _upper(self, batch: Sequence[DyadInputs], lower: torch.Tensor, steps: int, generators: list[torch.Generator]) -> torch.Tensor:
        net = self.body.upper
        known = net.norm.normalize(self._dyads(batch, "upper_known"))
        mask = self._dyads(batch, "upper_mask")
        known = torch.where(mask > 0, known, 0.0)
        cond = net.encoder(*self._body_conditions(batch), known, mask, extra=lower)
        return self._sample("upper", self.body_schedule, cond, known, mask, steps, generators)

    def _face(self, batch: Sequence[DyadInputs], steps: int, generators: list[torch.Generator]) -> torch.Tensor:
        d, config = self.device, self.face.config
        wav2vec = self._people(batch, "wav2vec")
        partner = torch.arange(wav2vec.shape[0], device=d) ^ 1  # rows 2i and 2i + 1 are one dyad: swap within it
        speaker = torch.nn.functional.one_hot(self._people(batch, "speakers", torch.int64), config.speakers).float()
        facing = torch.tensor([[1.0, 0.0] if inputs.facing else [0.0, 1.0] for inputs in batch for _ in (0, 1)], device=d)
        known = self.face.norm.normalize(self._people(batch, "face_known"))
        mask = self._people(batch, "face_mask")
        known = torch.where(mask > 0, known, 0.0)
        cond = self.face.encoder(wav2vec, wav2vec[partner], speaker, facing, known, mask)
        return self._sample("face", self.face_schedule, cond, known, mask, steps, generators)
