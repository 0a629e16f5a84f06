"""Diffusion schedule and samplers as pure functions over a denoiser callable.

Conventions (k-diffusion spirit, DDPM notation):
- A schedule is a tensor: `alphas_cumprod[t]` (abar_t) for training step t in [0, T),
  decreasing from ~1 to ~0. x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps.
- A denoiser is any callable `denoise(x_t, t) -> x0_hat` (x0 prediction): `t` is a
  float tensor [batch] of training steps. Networks stay plain; wrapping a network
  with its conditions into such a callable is the caller's job.
- Inference runs DDIM over a short list of training steps (`ddim_timesteps`), from
  pure noise at the last step down to a clean sample.
- Inpainting (RePaint-style): where `mask` is 1 the values `known` are imposed. At
  every step the known region of x_t is replaced by `known` noised to that step's
  level, and the known region of x0_hat by `known` itself, so the unknown frames are
  denoised next to (and pulled onto) the past context; `resample > 1` re-noises
  and repeats each step, as RePaint's jumps do, to harmonise the two regions.

All randomness comes from the `generator` passed in, so a seeded call is reproducible
bit for bit. A list of generators splits the batch into that many equal chunks, each
drawn from its own generator: a batch of independently seeded items then gets, item
by item, the same noise as separate calls (batched serving of several sessions).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Generators = torch.Generator | Sequence[torch.Generator] | None
StepCallback = Callable[[int, int, torch.Tensor], None]  # (step index, training timestep, x after the step)
Sampler = Callable[..., torch.Tensor]  # sample_ddim's shape: (denoise, noise, schedule, timesteps, *, generator, known, mask)
SCHEDULES = ("cosine", "linear")


def alphas_cumprod(train_steps: int = 1000, kind: str = "cosine") -> torch.Tensor:
    """abar_t for t in [0, train_steps) as float64 [train_steps]."""
    if not 1 <= train_steps <= 1000:
        raise ValueError(f"train_steps must be 1..1000, got {train_steps}")
    if kind == "linear":
        # DDPM's betas 1e-4..0.02 for T = 1000, stretched so any T covers the same total noise
        scale = 1000.0 / train_steps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, train_steps, dtype=torch.float64).clamp(max=0.999)
    elif kind == "cosine":
        # Nichol & Dhariwal: abar follows cos^2, betas clipped so the last steps stay finite
        s = 0.008
        grid = torch.arange(train_steps + 1, dtype=torch.float64) / train_steps
        f = torch.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f"unknown noise schedule {kind!r} (expected one of {', '.join(SCHEDULES)})")
    return torch.cumprod(1.0 - betas, dim=0)


def ddim_timesteps(train_steps: int, steps: int) -> list[int]:
    """`steps` training steps to visit, last (noisiest) first, evenly spaced and "trailing":
    the first is always train_steps - 1, so even one step starts from pure noise."""
    if not 1 <= steps <= train_steps:
        raise ValueError(f"steps must be 1..{train_steps}, got {steps}")
    stride = train_steps / steps
    return [int(round(train_steps - 1 - i * stride)) for i in range(steps)]


def q_sample(x0: torch.Tensor, abar: torch.Tensor | float, noise: torch.Tensor) -> torch.Tensor:
    """Forward process: x0 noised to the level abar (training pairs and inpainting)."""
    abar = torch.as_tensor(abar, dtype=x0.dtype)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def randn(shape: Sequence[int], generator: Generators, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """N(0, I) of `shape`; a list of generators draws equal chunks of the first axis, one each."""
    if generator is None or isinstance(generator, torch.Generator):
        return _draw(tuple(shape), generator, dtype, device)
    chunks = len(generator)
    if chunks == 0 or shape[0] % chunks:
        raise ValueError(f"a batch of {shape[0]} does not split into {chunks} equal chunks, one per generator")
    part = (shape[0] // chunks, *shape[1:])
    return torch.cat([_draw(part, g, dtype, device) for g in generator])


def _draw(shape: tuple[int, ...], generator: torch.Generator | None, dtype: torch.dtype, device) -> torch.Tensor:
    # drawn where the generator lives (the CPU for a seeded run), then moved: same numbers on any device
    where = generator.device if generator is not None else device
    values = torch.randn(shape, generator=generator, dtype=dtype, device=where)
    return values if device is None else values.to(device)


def _randn(like: torch.Tensor, generator: Generators) -> torch.Tensor:
    return randn(like.shape, generator, like.dtype, like.device)


def training_example(
    x0: torch.Tensor, schedule: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, t) for a batch of clean x0 [B, ...]: uniform t per item. The x0-prediction loss
    is then || denoise(x_t, t) - x0 ||^2."""
    t = torch.randint(0, schedule.shape[0], (x0.shape[0],), generator=generator).to(x0.device)
    noise = _randn(x0, generator)
    abar = schedule.to(x0.device)[t].to(x0.dtype).reshape((-1,) + (1,) * (x0.dim() - 1))
    return q_sample(x0, abar, noise), t.to(x0.dtype)


def _impose(x: torch.Tensor, known: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
    return x if known is None else torch.lerp(x, known, mask)


def ddim_step(
    denoise: Denoiser,
    x: torch.Tensor,
    t: int,
    abar: torch.Tensor,
    abar_prev: torch.Tensor,
    eta: float,
    generator: Generators,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """One DDIM update from level abar (step t) to abar_prev, with the known region imposed."""
    if known is not None:
        noise = _randn(x, generator)
        x = _impose(x, q_sample(known, abar, noise), mask)
    x0 = _impose(denoise(x, torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)), known, mask)
    eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).clamp(min=0).sqrt()
    out = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
    if eta > 0:
        out = out + sigma * _randn(x, generator)
    return out


def sample_ddim(
    denoise: Denoiser,
    noise: torch.Tensor,
    schedule: torch.Tensor,
    timesteps: Sequence[int],
    eta: float = 0.0,
    generator: Generators = None,
    known: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    resample: int = 1,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """DDIM from `noise` (x at the first of `timesteps`, N(0, I)) to a clean sample, one denoiser call per
    timestep (`resample` calls with RePaint jumps); `ddim_timesteps(T, steps)` gives the usual grid.
    `known`/`mask` (broadcastable to `noise`) impose values; the result equals `known` exactly where
    mask is 1. `callback(i, t, x)` sees x after each step (for plots, early stops, progress)."""
    if (known is None) != (mask is None):
        raise ValueError("inpainting needs both `known` and `mask`")
    if resample < 1:
        raise ValueError(f"resample must be >= 1, got {resample}")
    times = list(timesteps)
    if not times or any(not 0 <= t < schedule.shape[0] for t in times) or any(a <= b for a, b in zip(times, times[1:])):
        raise ValueError(f"timesteps must be descending training steps in [0, {schedule.shape[0]}), got {times}")
    dtype = noise.dtype
    levels = schedule.to(dtype)
    x = noise
    for i, t in enumerate(times):
        abar = levels[t]
        abar_prev = levels[times[i + 1]] if i + 1 < len(times) else torch.ones((), dtype=dtype)
        for r in range(resample):
            x_prev = ddim_step(denoise, x, t, abar, abar_prev, eta, generator, known, mask)
            if r + 1 < resample:  # jump back up to level abar and denoise this step again
                ratio = abar / abar_prev
                x = ratio.sqrt() * x_prev + (1 - ratio).sqrt() * _randn(x, generator)
        x = x_prev
        if callback is not None:
            callback(i, t, x)
    return _impose(x, known, mask)
