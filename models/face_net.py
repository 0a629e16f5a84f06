"""The face diffusion transformer (FaceFormer / DiffSpeaker family), one person per batch row.

Encoder (once per window, the "base" part a lip fine-tune never replaces):
- Wav2Vec2 features of this person and of the partner, concatenated per frame and
  projected: the audio tokens;
- speaker one-hot and facing one-hot (facing the partner or not), projected and
  summed: the style vector;
- known past-context face values with their mask: added to the motion tokens.

Denoiser (once per sampling step; the weights a lip fine-tune swaps in):
noisy face values -> motion tokens + periodic positional encoding; each layer is
self-attention with FaceFormer's periodic temporal bias, cross-attention to the
audio tokens with the alignment bias (a motion frame hears the audio around its
own time), and a feed-forward, all FiLM-modulated by style + step embedding.
Output: the 61 Live Link values (52 ARKit shapes, then head and eye angles).
"""

from __future__ import annotations

import torch
from torch import nn

from dyad.models.arkit import NUM_ARKIT
from dyad.models.body_net import Normalizer
from dyad.models.model_config import FaceConfig, NetSize
from dyad.models.transformer import (
    Attention,
    Modulation,
    StepEmbedding,
    alibi_slopes,
    alignment_bias,
    feed_forward,
    modulate,
    periodic_positional_encoding,
    periodic_temporal_bias,
)

DENOISER_PREFIX = "denoiser."  # tensors a lip fine-tune replaces; everything else stays from the base


class FaceBlock(nn.Module):
    def __init__(self, size: NetSize, period: int, align_radius: int) -> None:
        super().__init__()
        d = size.width
        self.period = period
        self.align_radius = align_radius
        self.film = Modulation(d, 3)
        self.norms = nn.ModuleList([nn.LayerNorm(d, elementwise_affine=False) for _ in range(3)])
        self.audio_norm = nn.LayerNorm(d)
        self.self_attn = Attention(d, size.heads)
        self.cross_attn = Attention(d, size.heads)
        self.ff = feed_forward(d, size.ff_mult)
        self.register_buffer("slopes", alibi_slopes(size.heads), persistent=False)

    def forward(self, h: torch.Tensor, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        t = h.shape[1]
        films = self.film(cond)
        x = modulate(self.norms[0], h, films[0])
        h = h + self.self_attn(x, x, periodic_temporal_bias(t, self.slopes, self.period))
        h = h + self.cross_attn(modulate(self.norms[1], h, films[1]), self.audio_norm(audio), alignment_bias(t, audio.shape[1], self.align_radius, h.device))
        return h + self.ff(modulate(self.norms[2], h, films[2]))


class FaceDenoiser(nn.Module):
    """One sampling step: (x_t [B,T,F], t [B], audio [B,T,D], motion [B,T,D], style [B,D]) -> x0 [B,T,F]."""

    def __init__(self, config: FaceConfig) -> None:
        super().__init__()
        size, out_dim = config.net, len(config.face_names)
        self.width = size.width
        self.period = config.period
        self.in_proj = nn.Linear(out_dim, size.width)
        self.step = StepEmbedding(size.width)
        self.blocks = nn.ModuleList([FaceBlock(size, config.period, config.align_radius) for _ in range(size.layers)])
        self.out_norm = nn.LayerNorm(size.width)
        self.out = nn.Linear(size.width, out_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, audio: torch.Tensor, motion: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        ppe = periodic_positional_encoding(x_t.shape[1], self.width, self.period, x_t.device).to(x_t.dtype)
        h = self.in_proj(x_t) + ppe[None] + motion
        c = style + self.step(t)
        for block in self.blocks:
            h = block(h, audio, c)
        return self.out(self.out_norm(h))


class FaceEncoder(nn.Module):
    def __init__(self, config: FaceConfig) -> None:
        super().__init__()
        d, out_dim = config.net.width, len(config.face_names)
        self.energy_cue = config.energy_cue
        self.audio_proj = nn.Linear(2 * config.wav2vec_dim + (4 if config.energy_cue else 0), d)
        # log-mel is far from zero-mean (natural-log power): data statistics, stored in the checkpoint
        self.audio_norm = Normalizer(config.wav2vec_dim) if config.audio_input == "mel" else None
        self.speaker = nn.Linear(config.speakers, d, bias=False)
        self.facing = nn.Linear(2, d, bias=False)
        self.context_proj = nn.Linear(2 * out_dim, d)

    def forward(
        self,
        own: torch.Tensor,  # [B, T, W] Wav2Vec2 features (or log-mel, config.audio_input) of this person
        partner: torch.Tensor,  # [B, T, W] of the partner
        speaker: torch.Tensor,  # [B, S] one-hot
        facing: torch.Tensor,  # [B, 2] one-hot: (facing the partner, not facing)
        known: torch.Tensor,  # [B, T, F] normalised context face values
        mask: torch.Tensor,  # [B, T, F] 1 where known
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.audio_norm is not None:
            own, partner = self.audio_norm.normalize(own), self.audio_norm.normalize(partner)
        parts = [own, partner]
        if self.energy_cue:
            parts += [*_loudness(own), *_loudness(partner)]
        audio = self.audio_proj(torch.cat(parts, dim=-1))
        motion = self.context_proj(torch.cat([known * mask, mask], dim=-1))
        return audio, motion, self.speaker(speaker) + self.facing(facing)


def _loudness(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """([B, T, 1], [B, T, 1]): the frame's mean normalised log-mel over bands (its loudness) and its
    change from the previous frame (0 on the first). A jaw opens with loudness whatever the voice; an
    explicit channel lets the network read it without learning it from one synthesizer's spectra."""
    level = features.mean(dim=-1, keepdim=True)
    change = torch.cat([torch.zeros_like(level[:, :1]), level[:, 1:] - level[:, :-1]], dim=1)
    return level, change


class FaceModel(nn.Module):
    def __init__(self, config: FaceConfig) -> None:
        super().__init__()
        config.check()
        self.config = config
        self.norm = Normalizer(len(config.face_names))
        self.encoder = FaceEncoder(config)
        self.denoiser = FaceDenoiser(config)

    def set_prior_statistics(self) -> None:
        """Untrained: shapes near a relaxed 0.05 with small spread, angles near 0."""
        with torch.no_grad():
            self.norm.mean.fill_(0.0)[:NUM_ARKIT] = 0.05
            self.norm.std.fill_(0.02)[:NUM_ARKIT] = 0.1
