"""Talker attribution: who is speaking, from both microphones together.

The crosstalk canceller removes the partner's bleed only once it has learned the path,
and it may only learn while the partner talks alone and clearly louder at their own mic
(`separation.py`). Two lavalier mics 2-6 dB apart never pass that test, so the partner's
voice reaches the listener's features almost unchanged and the listener's mouth moves.

Both mics together still say who talks. A voice is louder at its own speaker's mic than at
the other mic, band by band: per block and per band, compare this person's separated signal
(own voice + whatever bleed the canceller left) with the partner's raw mic (partner's voice
+ this person's bleed). The share of this person's power that lies in bands where it
dominates is near 1 while they talk alone, near 0 while only the partner talks, and in
between in double talk (speech is sparse in frequency, so each voice wins its own bands).
The canceller's work counts too: the better it removes the bleed, the further the
listener's bands fall below the partner's.

The share becomes a speaking probability per person and block, and the probability a gain
on that person's separated signal (a residual-echo suppressor, as after an echo
canceller): from the floor (-30 dB) while only the partner speaks to 1 while this person
does. Everything downstream (VAD, log-mel, level, Wav2Vec2) hears the gated signal, so the
procedural animator and the learned animators obey the same decision. Gains open at once
and close over ~100 ms, so syllable onsets are never cut. Causal, no added latency: the
decision for a block uses that block and earlier ones.

Assumes the two mics have comparable gain for their own talker (headsets, lavaliers set up
alike); a mic 6 dB hotter than the other shifts every decision toward its person.
"""

from __future__ import annotations


import numpy as np

from dyad.runtime.config import AttributionConfig
from dyad.runtime.errors import DyadError




class TalkerAttribution:
    """Per-person speaking probability from both mics, applied as a gain on the separated signals.

    `push(raw, separated)`: `raw` is every input sample in order (any chunking), `separated` the
    separator's output so far, which lags the input by less than one separation block; output
    sample i always belongs with input sample i.
    """

    def __init__(self, config: AttributionConfig | None = None, block: int = 256) -> None:
        self.config = (config or AttributionConfig()).validate()
        self.block = block
        cfg = self.config
        freqs = np.fft.rfftfreq(cfg.fft, 1.0 / cfg.sample_rate)
        edges = np.geomspace(cfg.low_hz, cfg.high_hz, cfg.bands + 1)
        self._band_of = np.digitize(freqs, edges) - 1  # -1 / bands: outside the analysed range
        self._window = np.hanning(cfg.fft)
        self._raw_pending = np.zeros((0, 2), np.float32)  # input samples not yet matched with separated output
        self._own = np.zeros((cfg.fft, 2))  # latest separated samples per person
        self._partner = np.zeros((cfg.fft, 2))  # latest raw mic samples of each person's partner
        self._power = np.full((2, 2, cfg.bands), 1e-12)  # [person, own|partner, band]
        self._gain = np.ones(2)
        self._release = float(np.exp(-block / cfg.sample_rate / cfg.release_s))
        self._floor = 10.0 ** (cfg.floor_db / 20.0)
        self.probability = np.ones(2)  # of the latest block
        self.blocks = 0
        self.gated_blocks = np.zeros(2, np.int64)  # blocks in which a person's gain was under 0.5

    def push(self, raw: np.ndarray, separated: np.ndarray) -> np.ndarray:
        self._raw_pending = np.concatenate([self._raw_pending, raw.astype(np.float32, copy=False)])
        if not self.config.enabled or len(separated) == 0:
            self._raw_pending = self._raw_pending[len(separated):]
            return separated
        if len(separated) % self.block or len(separated) > len(self._raw_pending):
            raise DyadError(f"attribution needs whole separation blocks matched by input, got {len(separated)} samples")
        out = np.empty_like(separated)
        for start in range(0, len(separated), self.block):
            sep = separated[start : start + self.block]
            out[start : start + self.block] = self._block(self._raw_pending[start : start + self.block], sep)
        self._raw_pending = self._raw_pending[len(separated):]
        return out

    def _band_power(self, signal: np.ndarray) -> np.ndarray:
        spectrum = np.abs(np.fft.rfft(signal * self._window[:, None], axis=0)) ** 2  # [bins, 2]
        valid = (self._band_of >= 0) & (self._band_of < self.config.bands)
        power = np.zeros((self.config.bands, 2))
        np.add.at(power, self._band_of[valid], spectrum[valid])
        return power.T  # [2, bands]

    def _block(self, raw: np.ndarray, sep: np.ndarray) -> np.ndarray:
        cfg = self.config
        n = len(raw)
        self._own = np.concatenate([self._own[n:], sep.astype(np.float64)])
        self._partner = np.concatenate([self._partner[n:], raw[:, ::-1].astype(np.float64)])
        a = cfg.power_smoothing
        self._power[:, 0] = a * self._power[:, 0] + (1 - a) * self._band_power(self._own)
        self._power[:, 1] = a * self._power[:, 1] + (1 - a) * self._band_power(self._partner)
        own, partner = self._power[:, 0] + 1e-12, self._power[:, 1] + 1e-12
        difference_db = 10.0 * np.log10(own / partner)
        dominant = 1.0 / (1.0 + np.exp(-difference_db / cfg.slope_db))
        share = np.sum(own * dominant, axis=1) / np.sum(own, axis=1)
        self.probability = np.clip((share - cfg.share_silent) / (cfg.share_speaking - cfg.share_silent), 0.0, 1.0)
        target = self._floor + (1.0 - self._floor) * self.probability
        previous = self._gain.copy()
        self._gain = np.where(target > self._gain, target, self._release * self._gain + (1.0 - self._release) * target)
        self.blocks += 1
        self.gated_blocks += self._gain < 0.5
        ramp = previous[None, :] + (self._gain - previous)[None, :] * (np.arange(1, n + 1) / n)[:, None]
        return (sep * ramp).astype(np.float32)

    def report(self) -> dict:
        return {"enabled": self.config.enabled, "blocks": self.blocks, "gated_blocks": [int(x) for x in self.gated_blocks]}
