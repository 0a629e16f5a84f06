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

The decision adapts to the geometry (`adaptive`): two lavaliers 2 dB apart or a mic 6 dB hotter
than the other move where "alone" and "partner only" lie. Two centres are learned online, causally, from the broadband level
difference between the two raw mics (summed over the analysed bands, averaged over ~80 ms):
the difference while person 0 clearly talks alone, and while person 1 does (a two-means
clustering that learns only from loud blocks lying well to one side of the current midpoint;
double talk lies near it and silence is too quiet, so neither teaches). Bands then decide
against the midpoint of the two centres where the gap between them is clear (>= `large_gap_db`);
where it is small (<= `small_gap_db`, e.g. two lavaliers 2 dB apart) they decide from 0 dB on
band powers averaged longer, since one block's noise would drown a 2 dB difference; in between,
both are interpolated. The centres start at +-`prior_gap_db` (midpoint 0 dB, the fixed
decision), so the first seconds behave as before learning. The learned state is two numbers,
updated once per block: it costs next to nothing beside the FFTs.

While both mics are silent the probability holds its last value (nothing to decide on).
`probability_samples` exposes each output sample's probability so the frame features carry it
(`PersonFeatures.talk`) for animators that shape a rest pose from it.
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
        self.probability_samples = np.ones((0, 2), np.float32)  # per output sample of the latest push
        # Learned broadband inter-mic difference (mic 0 over mic 1, dB) while person 0 / person 1 talks alone.
        self._centres = np.array([cfg.prior_gap_db, -cfg.prior_gap_db])
        self._slow_mics = np.full((2, cfg.bands), 1e-12)  # raw mic band powers averaged like a small gap's decision
        self._decision_power = self._power.copy()  # smoothed longer when the learned gap is small
        full_scale = cfg.fft * np.sum(self._window**2) / 2.0  # band power sum of a full-scale signal's mean square
        self._silence = 10.0 ** (cfg.silence_dbfs / 10.0) * full_scale
        self._learn_level = 10.0 ** (cfg.learn_above_dbfs / 10.0) * full_scale
        self.blocks = 0
        self.learned_blocks = np.zeros(2, np.int64)  # blocks that taught "person p talks alone"
        self.gated_blocks = np.zeros(2, np.int64)  # blocks in which a person's gain was under 0.5

    def push(self, raw: np.ndarray, separated: np.ndarray) -> np.ndarray:
        self._raw_pending = np.concatenate([self._raw_pending, raw.astype(np.float32, copy=False)])
        if not self.config.enabled or len(separated) == 0:
            self._raw_pending = self._raw_pending[len(separated):]
            self.probability_samples = np.ones((len(separated), 2), np.float32)
            return separated
        if len(separated) % self.block or len(separated) > len(self._raw_pending):
            raise DyadError(f"attribution needs whole separation blocks matched by input, got {len(separated)} samples")
        out = np.empty_like(separated)
        probability = np.empty((len(separated), 2), np.float32)
        for start in range(0, len(separated), self.block):
            sep = separated[start : start + self.block]
            out[start : start + self.block] = self._block(self._raw_pending[start : start + self.block], sep)
            probability[start : start + self.block] = self.probability
        self._raw_pending = self._raw_pending[len(separated):]
        self.probability_samples = probability
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
        fresh = np.stack([self._band_power(self._own), self._band_power(self._partner)], axis=1)  # [person, own|partner, band]
        a = cfg.power_smoothing
        self._power = a * self._power + (1 - a) * fresh
        slow = max(cfg.small_gap_smoothing, a)
        self._slow_mics = slow * self._slow_mics + (1 - slow) * fresh[::-1, 1]  # [mic, band]: person p's partner mic is mic 1 - p
        if self._slow_mics.sum(axis=1).max() > self._silence:  # in silence there is nothing to decide: hold
            midpoint, gap = 0.0, 2.0 * cfg.prior_gap_db
            if cfg.adaptive:
                self._learn()
                midpoint, gap = self._geometry()
            # Small gaps: decide on longer averages (a 2 dB difference drowns in one block's noise), and from
            # 0 dB: the two-means midpoint is trusted only where the gap is clear, which is also where a mic
            # hotter than the other would otherwise shift every decision.
            share_small = float(np.clip((cfg.large_gap_db - gap) / (cfg.large_gap_db - cfg.small_gap_db), 0.0, 1.0))
            midpoint *= 1.0 - share_small
            d = a + share_small * (slow - a)
            self._decision_power = d * self._decision_power + (1 - d) * fresh
            own, partner = self._decision_power[:, 0] + 1e-12, self._decision_power[:, 1] + 1e-12
            # own separated vs partner raw, from the learned midpoint (mic 0 over mic 1 for person 0, the inverse for 1)
            difference_db = 10.0 * np.log10(own / partner) - np.array([[midpoint], [-midpoint]])
            dominant = 1.0 / (1.0 + np.exp(-difference_db / cfg.slope_db))
            share = np.sum(own * dominant, axis=1) / np.sum(own, axis=1)
            self.probability = np.clip((share - cfg.share_silent) / (cfg.share_speaking - cfg.share_silent), 0.0, 1.0)
        else:
            self._decision_power = self._power.copy()
        target = self._floor + (1.0 - self._floor) * self.probability
        previous = self._gain.copy()
        self._gain = np.where(target > self._gain, target, self._release * self._gain + (1.0 - self._release) * target)
        self.blocks += 1
        self.gated_blocks += self._gain < 0.5
        ramp = previous[None, :] + (self._gain - previous)[None, :] * (np.arange(1, n + 1) / n)[:, None]
        return (sep * ramp).astype(np.float32)

    def _geometry(self) -> tuple[float, float]:
        """The midpoint between the two people's learned inter-mic differences, and the gap between them (dB)."""
        return 0.5 * float(self._centres[0] + self._centres[1]), float(self._centres[0] - self._centres[1])

    def _learn(self) -> None:
        """Move one person's centre toward this block's inter-mic difference if the block clearly holds that
        person alone: it lies more than learn_margin half-gaps from the midpoint (double talk lies near it)."""
        cfg = self.config
        level = self._slow_mics.sum(axis=1)
        if level.max() < self._learn_level or cfg.learn_rate == 0.0:
            return
        difference = 10.0 * float(np.log10(level[0] / level[1]))
        midpoint, gap = self._geometry()
        evidence = (difference - midpoint) / max(0.5 * gap, 0.25)
        if abs(evidence) <= cfg.learn_margin:
            return
        talker = 0 if evidence > 0 else 1
        self._centres[talker] += cfg.learn_rate * (difference - self._centres[talker])
        self.learned_blocks[talker] += 1

    def report(self) -> dict:
        midpoint, gap = self._geometry()
        return {"enabled": self.config.enabled, "adaptive": self.config.adaptive, "blocks": self.blocks,
                "gated_blocks": [int(x) for x in self.gated_blocks], "learned_blocks": [int(x) for x in self.learned_blocks],
                "gap_db": round(gap, 2), "midpoint_db": round(midpoint, 2)}  # fmt: skip
