"""Schedules and samplers against known answers, and windows streamed with inpainted context joining without a seam."""

from __future__ import annotations

import math

import pytest
import torch

from dyad.models.diffusion import alphas_cumprod, ddim_timesteps, q_sample, sample_ddim, training_example

SCHEDULE = alphas_cumprod(1000, "cosine")


@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize("steps", [1000, 100])
def test_training_schedule_runs_from_clean_to_pure_noise(kind, steps):
    abar = alphas_cumprod(steps, kind)
    assert abar.shape == (steps,) and abar.dtype == torch.float64
    assert torch.all(abar[1:] < abar[:-1])
    assert abar[0] > 0.99 and abar[-1] < 1e-3



def grid(steps: int) -> list[int]:
    return ddim_timesteps(SCHEDULE.shape[0], steps)

def test_schedule_limits_are_enforced():
    with pytest.raises(ValueError, match="1..1000"):
        alphas_cumprod(1001)
    with pytest.raises(ValueError, match="unknown noise schedule"):
        alphas_cumprod(1000, "sigmoid")
    with pytest.raises(ValueError, match="steps must be"):
        ddim_timesteps(1000, 0)


def test_ddim_timesteps_are_trailing_and_evenly_spaced():
    assert ddim_timesteps(1000, 1) == [999]
    assert ddim_timesteps(1000, 2) == [999, 499]
    assert ddim_timesteps(1000, 4) == [999, 749, 499, 249]
    assert ddim_timesteps(1000, 8) == [999, 874, 749, 624, 499, 374, 249, 124]


def test_training_example_noises_x0_to_the_drawn_level():
    x0 = torch.full((4, 3, 5), 2.0, dtype=torch.float64)
    x_t, t = training_example(x0, SCHEDULE, torch.Generator().manual_seed(0))
    noise = (x_t - SCHEDULE[t.long()].sqrt()[:, None, None] * x0) / (1 - SCHEDULE[t.long()]).sqrt()[:, None, None]
    assert t.shape == (4,) and torch.all((0 <= t) & (t < 1000))
    torch.testing.assert_close(q_sample(x0, SCHEDULE[t.long()][:, None, None], noise), x_t)


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("eta, resample", [(0.0, 1), (1.0, 1), (0.0, 3)])
def test_a_denoiser_that_knows_the_answer_yields_it_at_any_step_count(steps, eta, resample):
    # Data concentrated on one point c: the exact x0 predictor returns c whatever x_t is,
    # and every DDIM path must end exactly there.
    c = torch.linspace(-2, 3, 12, dtype=torch.float64).reshape(1, 4, 3)
    noise = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    out = sample_ddim(lambda x, t: c.expand_as(x), noise, SCHEDULE, grid(steps), eta=eta, generator=torch.Generator().manual_seed(2), resample=resample)
    torch.testing.assert_close(out, c, rtol=0, atol=1e-12)


def test_two_deterministic_steps_match_hand_computed_ddim():
    a = 0.5  # denoiser x0_hat = a * x_t
    x_T = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    ab1, ab2 = SCHEDULE[999], SCHEDULE[499]
    x0_1 = a * x_T
    eps_1 = (x_T - ab1.sqrt() * x0_1) / (1 - ab1).sqrt()
    x_mid = ab2.sqrt() * x0_1 + (1 - ab2).sqrt() * eps_1
    expected = a * x_mid  # the last step lands on x0_hat
    seen = []

    def denoise(x, t):
        seen.append(float(t[0]))
        return a * x

    torch.testing.assert_close(sample_ddim(denoise, x_T, SCHEDULE, grid(2)), expected, rtol=0, atol=1e-12)
    assert seen == [999.0, 499.0]


def test_inpainting_imposes_the_known_region_exactly():
    known = torch.arange(10, dtype=torch.float64).reshape(1, 5, 2)
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64).reshape(1, 5, 1)
    c = torch.full((1, 5, 2), -7.0, dtype=torch.float64)
    for steps in (1, 4):
        out = sample_ddim(lambda x, t: c, torch.randn(1, 5, 2, dtype=torch.float64), SCHEDULE, grid(steps),
                          generator=torch.Generator().manual_seed(0), known=known, mask=mask)  # fmt: skip
        torch.testing.assert_close(out[:, :2], known[:, :2], rtol=0, atol=0)
        torch.testing.assert_close(out[:, 2:], c[:, 2:], rtol=0, atol=1e-12)


def test_seeded_sampling_is_reproducible_bit_for_bit():
    def run(seed):
        noise = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(seed))
        known, mask = torch.zeros(2, 6, 3), torch.zeros(2, 6, 1)
        mask[:, :2] = 1
        return sample_ddim(lambda x, t: 0.3 * x, noise, SCHEDULE, grid(4), eta=1.0, generator=torch.Generator().manual_seed(seed), known=known, mask=mask, resample=2)

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


# -- seams over a long streamed sequence --------------------------------------------------------
# Data model with a known exact denoiser: per channel, x0 = m + r, m a condition-driven mean
# (stands in for speech) and r a Matern-5/2 Gaussian process. A window is [context | new].

CONTEXT, HOP, CHANNELS, LENGTHSCALE = 8, 2, 16, 5.0


def _kernel(frames: torch.Tensor) -> torch.Tensor:
    r = (frames[:, None] - frames[None, :]).abs().double() / LENGTHSCALE
    return (1 + math.sqrt(5) * r + 5 / 3 * r**2) * torch.exp(-math.sqrt(5) * r) + 1e-6 * torch.eye(len(frames), dtype=torch.float64)


def _drive(frames: torch.Tensor) -> torch.Tensor:
    k = torch.arange(CHANNELS, dtype=torch.float64)[None]
    return torch.sin(frames.double()[:, None] * (0.05 + 0.01 * k) + k)


def gp_denoiser(frames: torch.Tensor, known: torch.Tensor, n_known: int, sees_context: bool):
    """E[x0 | x_t] (and the clean context, when `sees_context`, as our networks see it)."""
    m, cov = _drive(frames), _kernel(frames)
    ctx = torch.arange(n_known) if sees_context else torch.arange(0)
    new = torch.arange(len(ctx), len(frames)) if sees_context else torch.arange(len(frames))

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = SCHEDULE[int(t[0])]
        s = ab.sqrt()
        kk, ku, uu = cov[ctx][:, ctx], cov[ctx][:, new], cov[new][:, new]
        cov_z = torch.cat([torch.cat([kk, s * ku], 1), torch.cat([s * ku.T, ab * uu + (1 - ab) * torch.eye(len(new), dtype=torch.float64)], 1)])
        z = torch.cat([known[0, ctx] - m[ctx], x[0, new] - s * m[new]])
        out = known[0].clone()
        out[new] = m[new] + torch.cat([ku.T, s * uu], 1) @ torch.linalg.solve(cov_z, z)
        return out[None]

    return denoise


def stream(steps: int, hops: int, inpaint: bool, sees_context: bool, eta: float = 0.0, resample: int = 1) -> tuple[float, float]:
    """Mean frame-to-frame speed (|x_k - x_k-1|) at window joins and inside windows."""
    generator = torch.Generator().manual_seed(7)
    sequence = torch.zeros(0, CHANNELS, dtype=torch.float64)
    for _ in range(hops):
        c = min(CONTEXT, len(sequence)) if inpaint or sees_context else 0
        frames = torch.arange(len(sequence) - c, len(sequence) + HOP)
        known = torch.zeros(1, c + HOP, CHANNELS, dtype=torch.float64)
        mask = torch.zeros(1, c + HOP, 1, dtype=torch.float64)
        known[0, :c], mask[0, :c] = sequence[len(sequence) - c :], 1.0
        noise = torch.randn(1, c + HOP, CHANNELS, generator=generator, dtype=torch.float64)
        out = sample_ddim(gp_denoiser(frames, known, c, sees_context), noise, SCHEDULE, grid(steps), eta=eta, generator=generator,
                          known=known if inpaint else None, mask=mask if inpaint else None, resample=resample)  # fmt: skip
        sequence = torch.cat([sequence, out[0, c:]])
    speed = (sequence[1:] - sequence[:-1]).norm(dim=-1)[4:]  # skip the cold start
    at_join = (torch.arange(1, len(sequence)) % HOP == 0)[4:]
    return float(speed[at_join].mean()), float(speed[~at_join].mean())


@pytest.mark.slow
@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_streamed_windows_join_without_a_seam(steps):
    join, inside = stream(steps, hops=150, inpaint=True, sees_context=True)
    assert join <= 1.05 * inside, f"{steps} steps: speed {join:.3f} at joins vs {inside:.3f} inside windows"


@pytest.mark.parametrize("steps", [2, 8])
def test_the_seam_measure_sees_windows_sampled_without_context(steps):
    join, inside = stream(steps, hops=60, inpaint=False, sees_context=False)
    assert join > 2.0 * inside, f"independent windows should show seams: {join:.3f} vs {inside:.3f}"


@pytest.mark.slow
def test_repaint_alone_joins_windows_given_enough_steps():
    # A denoiser blind to the context: only the sampler's inpainting carries it. RePaint needs
    # many noise levels and re-noising jumps to harmonise the two regions; with them the
    # joins match the inside of windows. (At 1-8 steps it does not, which is why the
    # networks also take the context as input.)
    join, inside = stream(50, hops=40, inpaint=True, sees_context=False, eta=1.0, resample=5)
    assert join <= 1.1 * inside, f"speed {join:.3f} at joins vs {inside:.3f} inside"


def test_callback_sees_every_step_and_the_sample_is_unchanged():
    noise = torch.randn(1, 4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    seen = []
    with_callback = sample_ddim(lambda x, t: 0.5 * x, noise, SCHEDULE, grid(4), callback=lambda i, t, x: seen.append((i, t, x.clone())))
    assert [(i, t) for i, t, _ in seen] == list(enumerate(grid(4)))
    torch.testing.assert_close(seen[-1][2], with_callback, rtol=0, atol=0)
    torch.testing.assert_close(sample_ddim(lambda x, t: 0.5 * x, noise, SCHEDULE, grid(4)), with_callback, rtol=0, atol=0)


@pytest.mark.parametrize("timesteps", [[], [499, 999], [999, 999], [1000]])
def test_timesteps_must_be_descending_training_steps(timesteps):
    with pytest.raises(ValueError, match="timesteps"):
        sample_ddim(lambda x, t: x, torch.zeros(1, 2, 1, dtype=torch.float64), SCHEDULE, timesteps)
