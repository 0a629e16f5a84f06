"""The two-person body diffusion networks (InterAct hierarchy, InterGen coupling).

Two networks of the same shape: the lower one denoises root + legs, the upper one
spine, arms, head and fingers, with the lower result as an extra per-frame
condition. Tensors carry both people on a person axis: [batch, 2, frames, ...].

Each network is split where the work splits:
- `encoder` (once per window): per-frame conditions of each person (log-mel, BERT
  word features, a no-text flag, the action label, for the upper net the lower
  result) and the known past-context frames with their mask, projected and
  summed into condition tokens; the partner's placement relative to this person
  into a vector. The networks see the context as an input (trained with random
  context masks) so that even one sampling step continues the past; the
  sampler's inpainting then imposes it exactly.
- `denoiser` (once per sampling step, exported to ONNX): x_t and the step, plus
  the encoder's output -> x0. Blocks: self-attention over one person's frames,
  then cross-attention from each person to the other (the same weights serve
  both directions, so swapping the people swaps the outputs), then a
  feed-forward; relative-position biases in both attentions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dyad.models.model_config import ACTIONS, BodyConfig, NetSize
from dyad.models.transformer import Attention, Modulation, RelativePositionBias, StepEmbedding, feed_forward, modulate

PLACEMENT_DIM = 4  # partner's (dx, dz) in this person's heading frame / scale, sin and cos of the partner's relative yaw
PARTNER = [1, 0]  # person axis permutation that puts each person's partner in its place


class Normalizer(nn.Module):
    """Per-feature mean and standard deviation (data statistics; priors in an untrained model)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


class DyadBlock(nn.Module):
    def __init__(self, size: NetSize) -> None:
        super().__init__()
        d = size.width
        self.film = Modulation(d, 3)
        self.norms = nn.ModuleList([nn.LayerNorm(d, elementwise_affine=False) for _ in range(3)])
        self.partner_norm = nn.LayerNorm(d)
        self.self_attn = Attention(d, size.heads)
        self.cross_attn = Attention(d, size.heads)
        self.self_pos = RelativePositionBias(size.heads, size.max_distance)
        self.cross_pos = RelativePositionBias(size.heads, size.max_distance)
        self.ff = feed_forward(d, size.ff_mult)

    def forward(self, h: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """h [B, 2, T, D], cond [B, 2, D] -> [B, 2, T, D]."""
        b, p, t, d = h.shape
        flat = h.reshape(b * p, t, d)
        films = self.film(cond.reshape(b * p, d))
        x = modulate(self.norms[0], flat, films[0])
        flat = flat + self.self_attn(x, x, self.self_pos(t, t))
        partner = self.partner_norm(flat.reshape(b, p, t, d)[:, PARTNER].reshape(b * p, t, d))
        flat = flat + self.cross_attn(modulate(self.norms[1], flat, films[1]), partner, self.cross_pos(t, t))
        flat = flat + self.ff(modulate(self.norms[2], flat, films[2]))
        return flat.reshape(b, p, t, d)


class BodyDenoiser(nn.Module):
    """One sampling step: (x_t [B,2,T,X], t [B], cond [B,2,T,D], glob [B,2,D]) -> x0 [B,2,T,X]."""

    def __init__(self, x_dim: int, size: NetSize) -> None:
        super().__init__()
        self.x_dim = x_dim
        self.width = size.width
        self.in_proj = nn.Linear(x_dim, size.width)
        self.step = StepEmbedding(size.width)
        self.blocks = nn.ModuleList([DyadBlock(size) for _ in range(size.layers)])
        self.out_norm = nn.LayerNorm(size.width)
        self.out = nn.Linear(size.width, x_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, glob: torch.Tensor) -> torch.Tensor:
        h = self.in_proj(x_t) + cond
        c = glob + self.step(t)[:, None, :]
        for block in self.blocks:
            h = block(h, c)
        return self.out(self.out_norm(h))


class BodyEncoder(nn.Module):
    """Conditions of one window -> (cond [B,2,T,D], glob [B,2,D]), computed once per window."""

    def __init__(self, config: BodyConfig, x_dim: int, extra_dim: int, size: NetSize) -> None:
        super().__init__()
        self.mel_norm = Normalizer(config.mel_dim)
        frame_dim = config.mel_dim + config.word_dim + 1 + len(ACTIONS) + extra_dim
        self.frame_proj = nn.Linear(frame_dim, size.width)
        self.context_proj = nn.Linear(2 * x_dim, size.width)
        self.placement = nn.Sequential(nn.Linear(PLACEMENT_DIM, size.width), nn.SiLU(), nn.Linear(size.width, size.width))

    def forward(
        self,
        mel: torch.Tensor,  # [B, 2, T, M] log-mel
        words: torch.Tensor,  # [B, 2, T, W] BERT word features (zeros where no text)
        no_text: torch.Tensor,  # [B, 2, T] 1 where no word covers the frame
        actions: torch.Tensor,  # [B, 2, T] int64 index into ACTIONS
        placement: torch.Tensor,  # [B, 2, PLACEMENT_DIM]
        known: torch.Tensor,  # [B, 2, T, X] normalised context values (anything where mask is 0)
        mask: torch.Tensor,  # [B, 2, T, X] 1 where known
        extra: torch.Tensor | None = None,  # [B, 2, T, E] the upper net's lower-body result
    ) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [self.mel_norm.normalize(mel), words, no_text[..., None], F.one_hot(actions, len(ACTIONS)).to(mel.dtype)]
        if extra is not None:
            parts.append(extra)
        cond = self.frame_proj(torch.cat(parts, dim=-1)) + self.context_proj(torch.cat([known * mask, mask], dim=-1))
        return cond, self.placement(placement)


class BodyNet(nn.Module):
    def __init__(self, config: BodyConfig, x_dim: int, extra_dim: int, size: NetSize) -> None:
        super().__init__()
        self.norm = Normalizer(x_dim)
        self.encoder = BodyEncoder(config, x_dim, extra_dim, size)
        self.denoiser = BodyDenoiser(x_dim, size)


class BodyModel(nn.Module):
    """Lower net (root + legs) and upper net (the rest, conditioned on the lower result)."""

    def __init__(self, config: BodyConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        split = config.split
        self.lower = BodyNet(config, split.lower_dim, 0, config.lower_net)
        self.upper = BodyNet(config, split.upper_dim, split.lower_dim, config.upper_net)

    def set_prior_statistics(self) -> None:
        """Statistics for an untrained model: standing at rest height with small motions, so a
        random network moves the avatar a little around its rest pose instead of anywhere."""
        with torch.no_grad():
            lower_std = torch.full((self.config.split.lower_dim,), 0.1)
            lower_std[:7] = torch.tensor([2.0, 0.3, 0.3, 0.005, 0.03, 0.03, 0.03])
            self.lower.norm.mean.zero_()[0] = self.config.rest_root_height
            self.lower.norm.std.copy_(lower_std)
            self.upper.norm.mean.zero_()
            self.upper.norm.std.fill_(0.1)
            for net in (self.lower, self.upper):
                net.encoder.mel_norm.mean.fill_(-10.0)  # natural-log mel power of speech, roughly
                net.encoder.mel_norm.std.fill_(4.0)
