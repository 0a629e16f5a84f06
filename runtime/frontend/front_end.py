"""The audio front end: gap filling, crosstalk separation, VAD, mel and frame features.

Everything here runs on the processing thread, in capture order, on the
absolute sample clock. A gap in the input (a chunk dropped by a full audio
queue, a device glitch) is filled with silence of exactly the missing length
so every later sample keeps its absolute index; the gap is counted as dropped
audio.
"""

from __future__ import annotations

import numpy as np

from dyad.runtime.frontend.attribution import TalkerAttribution
from dyad.runtime.config import SessionConfig
from dyad.runtime.frontend.features import FeatureTimeline, FrameFeatureBuilder
from dyad.runtime.frames import AudioChunk
from dyad.runtime.frontend.mel import StreamingMel
from dyad.runtime.frontend.separation import StreamingSeparator
from dyad.runtime.stats import SessionStats
from dyad.runtime.frontend.vad import WINDOW as VAD_WINDOW
from dyad.runtime.frontend.vad import DyadVad


class AudioFrontEnd:
    def __init__(
        self, config: SessionConfig, timeline: FeatureTimeline, stats: SessionStats, vad: DyadVad | None = None, speech=None
    ) -> None:
        self.config = config
        self.timeline = timeline
        self.stats = stats
        rate = config.audio.sample_rate
        self.separator = StreamingSeparator(config.separation)
        self.attribution = TalkerAttribution(config.attribution, config.separation.block)
        self.vad = vad if vad is not None else DyadVad()
        self.mel = StreamingMel(config.mel, rate)
        self.builder = FrameFeatureBuilder(
            timeline,
            sample_rate=rate,
            fps=config.timing.fps,
            mel_hop=config.mel.hop_length,
            mel_n_fft=config.mel.n_fft,
            vad_window=VAD_WINDOW,
            extras=speech,
            mel_anchor_offset=config.mel.anchor_offset,
        )
        self.speech = speech  # runtime.speech.speech_features.SpeechFeatures (Wav2Vec2, words) or None
        self.next_sample = 0  # absolute index of the next input sample expected
        self.first_capture_ns: int | None = None

    def process(self, chunk: AudioChunk) -> int:
        """Consume one chunk; return how many animation frames it finished."""
        if self.first_capture_ns is None:
            self.first_capture_ns = chunk.capture_ns - round(chunk.start_sample * 1e9 / chunk.sample_rate)
        samples = chunk.samples
        if chunk.start_sample > self.next_sample:
            gap = chunk.start_sample - self.next_sample
            self.stats.count("dropped_audio_samples", gap)
            samples = np.concatenate([np.zeros((gap, samples.shape[1]), np.float32), samples])
        elif chunk.start_sample < self.next_sample:
            overlap = self.next_sample - chunk.start_sample
            self.stats.count("overlapping_audio_samples", min(overlap, chunk.frames))
            samples = samples[overlap:]
        if len(samples) == 0:
            return 0
        self.next_sample += len(samples)
        return self._consume(samples)

    def _consume(self, samples: np.ndarray) -> int:
        with self.stats.stage("separation"):
            separated = self.separator.push(samples)
        with self.stats.stage("attribution"):  # who speaks, from both mics: gates each person's separated signal
            separated = self.attribution.push(samples, separated)
        if len(separated) == 0:
            return 0
        with self.stats.stage("vad"):
            windows = self.vad.push(separated)
        with self.stats.stage("mel"):
            first_mel, mel = self.mel.push(separated)
        if self.speech is not None:  # times its own stages: wav2vec2 per hop, bert per arrived batch
            self.speech.push(separated, windows.starts, windows.probs, self.timeline.ready_until)
        with self.stats.stage("frame_features"):
            self.builder.add_samples(separated, self.attribution.probability_samples)
            if len(windows):
                self.builder.add_vad(int(windows.starts[0]) // VAD_WINDOW, windows.probs)
            self.builder.add_mel(first_mel, mel)
            return self.builder.advance()

    def end_frame(self) -> int:
        """Number of whole animation frames in the input received so far."""
        timing = self.config.timing
        return self.next_sample * timing.fps // self.config.audio.sample_rate

    def finish(self) -> int:
        """Input ended: push silence through so every whole frame gets features; return the frame count."""
        end_frame = self.end_frame()
        padding = self.config.separation.block + self.config.mel.n_fft + VAD_WINDOW
        self._consume(np.zeros((padding, 2), np.float32))
        if self.speech is not None:
            self.speech.finish(end_frame)
        self.builder.advance(final=True, end_frame=end_frame)
        return end_frame
