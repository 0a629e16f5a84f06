"""Crosstalk separation: each microphone is the other's echo reference.

Two people, two mics: mic 0 hears person 0 plus a delayed, room-filtered,
quieter copy of person 1 (and the other way round). That is the echo
cancellation problem with the partner's mic as the "far end":

    out0 = mic0 - W0 * mic1        out1 = mic1 - W1 * mic0

W0 models the acoustic path person 1 -> mic 0 as seen from mic 1. It can only
be learned while person 1 talks alone: while person 0 talks too, the error
signal holds person 0's voice and the filter would learn to cancel it (or
diverge). Each filter is a partitioned-block frequency-domain NLMS filter
(PBFDAF / MDF, overlap-save, gradient constrained so the filters stay linear
convolutions). Latency is one block; the block is also the partition size.

Double-talk detection, per channel, two tests that must both pass to adapt:

1. Level dominance: the partner is louder at the partner's own mic than at
   ours by `dominance_db`. Bleed is -6..-12 dB, so "partner alone" reads
   +6..+12 dB while overlapping speech of similar loudness reads about 0 dB.
   This alone cannot tell "partner alone" from "partner loud, we whisper".
2. Linear predictability (frequency-domain normalised cross-correlation,
   Benesty et al.): the share of our mic's power explained linearly by the
   partner's mic, sum_k |S_xd|^2 / S_xx / sum_k S_dd. Near 1 when our mic
   holds only the partner's bleed, much lower as soon as our own voice is in
   it, whatever the levels. Frame length vs. delay and the room tail bias it
   below 1, hence a threshold around 0.5 rather than 0.9.

Both statistics are smoothed over a few blocks (tens of ms) so single noisy
blocks neither open nor close the gate.

For fixed weights (`adapt=False`) the output is exactly linear in the input,
which is what lets a test replay the filters on the separate components of a
mixture and measure the signal-to-interference ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyad.runtime.config import SeparationConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk


@dataclass(frozen=True)
class CancellerStats:
    blocks: int
    adapted: tuple[int, int]  # blocks in which W0 / W1 adapted
    double_talk: int  # blocks with speech where neither filter could adapt


_EPS = 1e-20


class CrosstalkCanceller:
    """Two PBFDAF filters, one per channel, each fed the other channel as reference."""

    def __init__(self, config: SeparationConfig | None = None, adapt: bool = True) -> None:
        self.config = (config or SeparationConfig()).validate()
        self.adapt = adapt
        self.reset()

    def reset(self) -> None:
        cfg = self.config
        b, p = cfg.block, cfg.partitions
        bins = b + 1  # rfft of 2*block samples
        self._fft_len = 2 * b
        self._frame = np.zeros((2, 2 * b))  # [previous ref block | current ref block]
        self._err_frame = np.zeros((2, 2 * b))  # [zeros | error block]
        self._x = np.zeros((2, p, bins), np.complex128)  # reference spectra, newest first
        self._w = np.zeros((2, p, bins), np.complex128)
        self._ref_power = np.zeros((2, bins))
        self._level = np.zeros(2)
        self._s_auto = np.zeros((2, bins))  # smoothed |F_mic|^2 per mic
        self._s_cross = np.zeros(bins, np.complex128)  # smoothed F_mic0 conj(F_mic1)
        self._silence = 10.0 ** (cfg.silence_dbfs / 10.0)
        self._blocks = 0
        self._adapted = [0, 0]
        self._double_talk = 0
        self.last_gate = (False, False)

    @property
    def weights(self) -> np.ndarray:
        """Frequency-domain partitions [2, partitions, block + 1] (copy)."""
        return self._w.copy()

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        if value.shape != self._w.shape:
            raise DyadError(f"separation weights must have shape {self._w.shape}, got {value.shape}")
        self._w[...] = value

    def impulse_responses(self) -> np.ndarray:
        """The filters as time-domain taps [2, filter_len] (for inspection and plots)."""
        taps = np.fft.irfft(self._w, n=self._fft_len, axis=-1)[..., : self.config.block]
        return taps.reshape(2, -1)

    @property
    def stats(self) -> CancellerStats:
        return CancellerStats(self._blocks, (self._adapted[0], self._adapted[1]), self._double_talk)

    def process_block(self, block: np.ndarray) -> np.ndarray:
        """Cancel crosstalk in one [block, 2] block; returns float32 [block, 2]."""
        b = self.config.block
        if block.shape != (b, 2):
            raise DyadError(f"separation block must have shape ({b}, 2), got {block.shape}")
        mics = block.T.astype(np.float64)  # [2, b]; row c = mic c
        # Reference of channel 0 is mic 1 and vice versa.
        self._frame[:, :b] = self._frame[:, b:]
        self._frame[0, b:] = mics[1]
        self._frame[1, b:] = mics[0]
        self._x[:, 1:] = self._x[:, :-1]
        self._x[:, 0] = np.fft.rfft(self._frame, axis=-1)

        estimate = np.fft.irfft(np.einsum("cpk,cpk->ck", self._w, self._x), n=self._fft_len)[:, b:]
        error = mics - estimate

        gate = self._gate(mics)
        if self.adapt:
            self._update(error, gate)
        self._blocks += 1
        return error.T.astype(np.float32)

    def _gate(self, mics: np.ndarray) -> tuple[bool, bool]:
        """Which filters may adapt on this block (see module docstring)."""
        cfg = self.config
        a = cfg.level_smoothing
        self._level = a * self._level + (1.0 - a) * np.mean(mics * mics, axis=1)

        f_mic1, f_mic0 = self._x[0, 0], self._x[1, 0]
        c = cfg.coherence_smoothing
        self._s_auto[0] = c * self._s_auto[0] + (1.0 - c) * np.abs(f_mic0) ** 2
        self._s_auto[1] = c * self._s_auto[1] + (1.0 - c) * np.abs(f_mic1) ** 2
        self._s_cross = c * self._s_cross + (1.0 - c) * f_mic0 * np.conj(f_mic1)
        explained = np.abs(self._s_cross) ** 2
        # Share of mic c's power predictable from the other mic.
        share = (
            float(np.sum(explained / (self._s_auto[1] + _EPS)) / (np.sum(self._s_auto[0]) + _EPS)),
            float(np.sum(explained / (self._s_auto[0] + _EPS)) / (np.sum(self._s_auto[1]) + _EPS)),
        )
        gate = []
        for own in (0, 1):
            partner = 1 - own
            dominance = 10.0 * np.log10((self._level[partner] + _EPS) / (self._level[own] + _EPS))
            gate.append(
                bool(
                    self._level[partner] > self._silence
                    and dominance >= cfg.dominance_db
                    and share[own] >= cfg.coherence_threshold
                )
            )
        speech = bool(np.max(self._level) > self._silence)
        if speech and not any(gate):
            self._double_talk += 1
        self.last_gate = (gate[0], gate[1])
        return self.last_gate

    def _update(self, error: np.ndarray, gate: tuple[bool, bool]) -> None:
        cfg = self.config
        b, p = cfg.block, cfg.partitions
        g = cfg.power_smoothing
        # NLMS normalisation by the reference energy the whole filter spans (all
        # partitions), not just the newest block: after a speech offset the
        # older partitions still hold loud spectra, and normalising by the
        # quiet newest block alone makes long filters diverge.
        span_power = np.sum(np.abs(self._x) ** 2, axis=1)
        # Tracked every block so the step is right on the first adapted block.
        self._ref_power = g * self._ref_power + (1.0 - g) * span_power
        channels = [c for c in (0, 1) if gate[c]]
        if not channels:
            return
        self._err_frame[:, b:] = error
        err_spec = np.fft.rfft(self._err_frame, axis=-1)
        for c in channels:
            power = self._ref_power[c]
            delta = cfg.regularisation * float(np.mean(power)) + p * self._fft_len * self._silence
            step = cfg.step_size / (power + delta)
            gradient = np.conj(self._x[c]) * (err_spec[c] * step)
            # Gradient constraint: keep each partition a causal block of `b` taps,
            # otherwise circular wrap-around makes the filter non-linear-convolution.
            taps = np.fft.irfft(gradient, n=self._fft_len, axis=-1)
            taps[:, b:] = 0.0
            self._w[c] += np.fft.rfft(taps, axis=-1)
            self._adapted[c] += 1


class StreamingSeparator:
    """Feeds the canceller from chunks of any size on the absolute sample clock.

    Output sample i is input sample i (after cancellation); samples wait in a
    buffer until a block is complete, so at most `block - 1` samples are
    pending and the added latency is under one block. With `enabled=False`
    audio passes through unchanged with exactly the same blocking.
    """

    def __init__(self, config: SeparationConfig | None = None) -> None:
        self.config = (config or SeparationConfig()).validate()
        self.canceller = CrosstalkCanceller(self.config)
        self._buffer = np.zeros((self.config.block, 2), np.float32)
        self._fill = 0
        self._emitted = 0  # absolute index of the next output sample
        self._first_sample: int | None = None
        self._first_ns = 0

    @property
    def pending(self) -> int:
        return self._fill

    @property
    def next_output_sample(self) -> int:
        """Absolute input index of the next sample `push` will return."""
        return self._emitted + (self._first_sample or 0)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Append [n, 2] samples; return [m, 2] float32, m a multiple of block (maybe 0)."""
        if samples.ndim != 2 or samples.shape[1] != 2:
            raise DyadError(f"separation input must be [n, 2], got shape {samples.shape}")
        b = self.config.block
        out: list[np.ndarray] = []
        pos = 0
        n = samples.shape[0]
        while pos < n:
            take = min(b - self._fill, n - pos)
            self._buffer[self._fill : self._fill + take] = samples[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == b:
                out.append(self._run_block())
                self._fill = 0
        self._emitted += b * len(out)
        if not out:
            return np.zeros((0, 2), np.float32)
        return np.concatenate(out, axis=0)

    def push_chunk(self, chunk: AudioChunk) -> AudioChunk | None:
        """`push` for session messages: the result carries its absolute start and capture time."""
        cfg = self.config
        if chunk.sample_rate != cfg.sample_rate:
            raise DyadError(f"separation expects {cfg.sample_rate} Hz audio, got {chunk.sample_rate} Hz")
        if self._first_sample is None:
            self._first_sample, self._first_ns = chunk.start_sample, chunk.capture_ns
        expected = self._first_sample + self._emitted + self._fill
        if chunk.start_sample != expected:
            raise DyadError(
                f"separation input is not contiguous: chunk starts at sample {chunk.start_sample}, "
                f"expected {expected}"
            )
        start = self.next_output_sample
        out = self.push(chunk.samples)
        if out.shape[0] == 0:
            return None
        # Capture time of the first output sample, from the chunk's own stamp.
        capture = chunk.capture_ns + round((start - chunk.start_sample) * 1e9 / cfg.sample_rate)
        return AudioChunk(start_sample=start, samples=out, sample_rate=cfg.sample_rate, capture_ns=capture)

    def _run_block(self) -> np.ndarray:
        if not self.config.enabled:
            return self._buffer.copy()
        return self.canceller.process_block(self._buffer)
