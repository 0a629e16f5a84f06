"""Transformer parts shared by the body and face denoisers.

Attention is written out (softmax(q k^T / sqrt(d) + bias) v) rather than calling a
fused kernel: every position scheme here is an additive bias, and the plain form
exports to ONNX with dynamic batch and time axes unchanged.

Conditioning that does not depend on time within a window (the diffusion step,
speaker style, placement) modulates each sub-layer's LayerNorm (FiLM / adaLN);
per-frame conditions are added to the tokens by the caller.
"""

from __future__ import annotations

import math

import torch
from torch import nn

MASKED = -1.0e4  # additive bias that removes a key; finite so fp16 and ONNX stay NaN-free


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (float) diffusion steps [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


class StepEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.dim))


def relative_index(q_len: int | torch.Tensor, k_len: int | torch.Tensor, max_distance: int, device=None) -> torch.Tensor:
    """[q_len, k_len] index of the clipped offset k - q, shifted to 0..2*max_distance."""
    # position tensors are made on the model's device: a CPU tensor mixed into GPU math fails
    # (or, as an index, costs a host-to-device copy each call that a CUDA graph cannot capture)
    q = torch.arange(q_len, device=device)
    k = torch.arange(k_len, device=device)
    return (k[None, :] - q[:, None]).clamp(-max_distance, max_distance) + max_distance


class RelativePositionBias(nn.Module):
    """A learned bias per head and clipped frame offset (Shaw et al. / T5 without buckets):
    attention depends on how far apart two frames are, never on where the window starts."""

    def __init__(self, heads: int, max_distance: int) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_distance + 1))

    def forward(self, q_len: int | torch.Tensor, k_len: int | torch.Tensor) -> torch.Tensor:
        return self.table[:, relative_index(q_len, k_len, self.max_distance, self.table.device)]  # [heads, q, k]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, source: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x [N, T, D] attends to source [N, S, D]; bias broadcasts to [N, heads, T, S]."""
        n, t, d = x.shape
        s = source.shape[1]
        h, e = self.heads, self.head_dim
        q = self.q(x).reshape(n, t, h, e).transpose(1, 2)
        kv = self.kv(source).reshape(n, s, 2, h, e).permute(2, 0, 3, 1, 4)
        weights = (q @ kv[0].transpose(-1, -2)) * self.scale + bias
        mixed = weights.softmax(dim=-1) @ kv[1]  # [N, h, T, e]
        return self.out(mixed.transpose(1, 2).reshape(n, t, d))


class Modulation(nn.Module):
    """FiLM from a conditioning vector: shift and scale per sub-layer, applied after LayerNorm."""

    def __init__(self, dim: int, sublayers: int) -> None:
        super().__init__()
        self.sublayers = sublayers
        self.proj = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * sublayers * dim))
        nn.init.normal_(self.proj[1].weight, std=0.02)
        nn.init.zeros_(self.proj[1].bias)

    def forward(self, cond: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """cond [N, D] -> one (shift, scale) pair [N, 1, D] per sub-layer."""
        parts = self.proj(cond).unsqueeze(1).chunk(2 * self.sublayers, dim=-1)
        return [(parts[2 * i], parts[2 * i + 1]) for i in range(self.sublayers)]


def modulate(norm: nn.LayerNorm, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    shift, scale = film
    return norm(x) * (1 + scale) + shift


def feed_forward(dim: int, mult: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, mult * dim), nn.GELU(), nn.Linear(mult * dim, dim))


def periodic_positional_encoding(length: int | torch.Tensor, dim: int, period: int, device=None) -> torch.Tensor:
    """FaceFormer's PPE: sinusoidal encoding of (frame mod period) -> [length, dim]; repeating
    every `period` frames lets the model generalise to windows longer than it saw."""
    phase = (torch.arange(length, device=device) % period).float()[:, None]
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32, device=device) / dim)
    pe = torch.zeros(phase.shape[0], dim, device=device)
    pe[:, 0::2] = torch.sin(phase * freqs)
    pe[:, 1::2] = torch.cos(phase * freqs[: dim // 2])
    return pe


def alibi_slopes(heads: int) -> torch.Tensor:
    """ALiBi's geometric slopes 2^(-8 i / heads), i = 1..heads."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / heads) for i in range(heads)])


def periodic_temporal_bias(length: int | torch.Tensor, slopes: torch.Tensor, period: int) -> torch.Tensor:
    """FaceFormer's biased self-attention, made two-sided for a non-causal denoiser:
    -slope_h * floor(|i - j| / period) -> [heads, length, length]."""
    i = torch.arange(length, device=slopes.device)
    distance = torch.div((i[None, :] - i[:, None]).abs(), period, rounding_mode="floor").float()
    return -slopes[:, None, None] * distance[None]


def alignment_bias(q_len: int | torch.Tensor, k_len: int | torch.Tensor, radius: int, device=None) -> torch.Tensor:
    """FaceFormer / DiffSpeaker alignment bias for cross-attention to audio at the same frame
    rate: motion frame i sees audio frames |i - j| <= radius, nothing else -> [q, k]."""
    offset = (torch.arange(k_len, device=device)[None, :] - torch.arange(q_len, device=device)[:, None]).abs()
    return torch.where(offset <= radius, torch.zeros((), device=device), torch.full((), MASKED, device=device))
