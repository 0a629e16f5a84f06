"""The learned speech features of one session: Wav2Vec2 per person, ASR words -> BERT word features.

Runs on the processing thread, inside the audio front end, after separation,
VAD and mel of each block:
  push(block)    buffers audio for Wav2Vec2 and encodes one window per hop (on
                 the scheduler's hop grid, so a hop's frames are ready as soon
                 as its audio is), advances the word source (file replay,
                 Whisper segmentation) and turns newly arrived lines into BERT
                 word vectors (live: on a worker thread, `word_encoding_thread`,
                 so long lines never stall a hop; offline: in place);
  ready / take   the frame builder holds each animation frame until its
                 Wav2Vec2 features exist, then takes them with the word
                 features known at that moment.
All encoders load and warm up in the constructor, before the session goes
live, so the first hop does not pay for lazy initialisation. Every cost lands
in SessionStats stages (wav2vec2 per hop, bert per arrived batch, asr.whisper
per segment batch) and from there in session.json.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from dyad.models.local_checkpoints import CheckpointError
from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import TranscriptLine
from dyad.runtime.config import DEFAULT_BERT, parse_asr
from dyad.runtime.stats import SessionStats
from dyad.runtime.speech.word_encoding_thread import WordEncodingThread
from dyad.runtime.speech.words import ExternalTranscriptASR, TranscriptFileASR, WordSource

LINES_PER_BLOCK = 8  # arrived lines encoded per audio block: bounds the BERT cost of a burst


class SpeechFeatures:
    def __init__(self, config: SessionConfig, stats: SessionStats, threaded_asr: bool) -> None:
        self.config = config
        self.speech = config.speech.validate()
        self.stats = stats
        self.fps = config.timing.fps
        self.rate = config.audio.sample_rate
        self.warmup_ms: dict[str, float] = {}
        self._feeds: list[Callable[[], list[TranscriptLine]]] = []
        self._audio_end = 0  # absolute end of the separated audio received
        if self.speech.torch_threads is not None:
            import torch

            torch.set_num_threads(self.speech.torch_threads)
        try:
            self.wav2vec, self.resampler = self._load_wav2vec2()
            self.words, self.source = self._load_words(threaded_asr)
        except CheckpointError as error:
            raise DyadError(str(error)) from None
        # Live (threaded) sessions encode words on their own thread; offline ones in place (bit-identical).
        self.encoding = WordEncodingThread(self.words) if self.words is not None and threaded_asr else None
        timing = config.timing
        self._next_target = timing.hop_frames + timing.lookahead_frames  # frames the scheduler's first hop needs

    # -- loading ----------------------------------------------------------------
    def _load_wav2vec2(self):
        if self.speech.wav2vec2 is None:
            return None, None
        from dyad.models.wav2vec2 import load_wav2vec2
        from dyad.runtime.speech.wav2vec_stream import FrameRateResampler, StreamingWav2Vec2

        encoder = load_wav2vec2(self.speech.wav2vec2, self.speech.device)
        stream = StreamingWav2Vec2(encoder, self.speech.wav2vec2_context_ms, self.speech.wav2vec2_lookahead_ms, self.rate)
        # A steady-state window: the encoder frames of one hop, plus one for the interpolation.
        new_frames = math.ceil(self.config.timing.hop_frames * self.rate / self.fps / encoder.geometry.stride) + 1
        window = np.zeros((2, stream.window_samples(new_frames)), np.float32)
        self._warm("wav2vec2", lambda: [encoder.encode(window) for _ in range(2)])
        return stream, FrameRateResampler(encoder.geometry, self.rate, self.fps)

    def _load_words(self, threaded_asr: bool):
        if not self.speech.words_enabled:
            return None, None
        from dyad.models.word_tokens import packaged_minilm_folder
        from dyad.runtime.speech.word_features import WordFeatures

        source = self._word_source(threaded_asr)  # first: a missing transcript file fails before BERT loads
        try:
            folder = packaged_minilm_folder() if self.speech.bert == DEFAULT_BERT else self.speech.bert
            words = WordFeatures(_word_encoder(folder, self.speech.device), self.fps, self.stats, placement=self.speech.word_placement)
            self._warm("bert", words.warm_up)
        except BaseException:
            source.close()  # a Whisper worker thread must not outlive a failed start
            raise
        return words, source

    def _word_source(self, threaded_asr: bool) -> WordSource:
        kind, path = parse_asr(self.speech.asr)
        if kind == "file":
            return TranscriptFileASR(path, self.stats, sample_rate=self.rate)
        if kind == "sphinx":
            return self._sphinx(path, threaded_asr)
        if kind == "whisper":
            from dyad.models.whisper_asr import WhisperWordRecognizer
            from dyad.runtime.frontend.vad import WINDOW as VAD_WINDOW
            from dyad.runtime.speech.whisper_words import WhisperASR

            recognizer = WhisperWordRecognizer.load(path, self.speech.device, language=self.speech.asr_language)
            source = WhisperASR(
                recognizer,
                self.stats,
                threaded=threaded_asr,
                min_silence_s=self.speech.asr_min_silence_ms / 1000,
                max_segment_s=self.speech.asr_max_segment_s,
                vad_window=VAD_WINDOW,
                sample_rate=self.rate,
            )
            self._warm("asr.whisper", source.warm_up)
            return source
        return ExternalTranscriptASR(self.stats)

    def _sphinx(self, model, threaded_asr: bool) -> WordSource:
        from dyad.runtime.frontend.vad import WINDOW as VAD_WINDOW
        from dyad.runtime.speech.sphinx_stream import SphinxSettings
        from dyad.runtime.speech.sphinx_words import SphinxASR

        settings = SphinxSettings(
            model=None if model is None else str(model),
            sample_rate=self.rate,
            vad_window=VAD_WINDOW,
            min_silence_s=self.speech.asr_min_silence_ms / 1000,
            max_utterance_s=self.speech.asr_max_segment_s,
            partial_every_s=self.config.timing.hop_frames / self.fps,
        )
        start = time.perf_counter()
        source = SphinxASR(settings, self.stats, threaded=threaded_asr)
        self.warmup_ms["asr.sphinx"] = round((time.perf_counter() - start) * 1000, 2)
        return source

    def _warm(self, name: str, run: Callable[[], object]) -> None:
        start = time.perf_counter()
        run()
        self.warmup_ms[name] = round((time.perf_counter() - start) * 1000, 2)

    # -- shape of the timeline ------------------------------------------------------
    @property
    def wav2vec_dim(self) -> int | None:
        return None if self.wav2vec is None else self.wav2vec.encoder.dim

    @property
    def words_dim(self) -> int | None:
        return None if self.words is None else self.words.dim

    # -- transcripts from other threads -------------------------------------------
    def submit(self, line: TranscriptLine) -> bool:
        """A host app's transcript line (thread-safe); False if rejected or word features are off."""
        if self.source is None:
            self.stats.count("transcripts_ignored_no_word_features")
            return False
        return self.source.submit(line)

    def add_feed(self, drain: Callable[[], list[TranscriptLine]]) -> None:
        """A queue of host transcripts (e.g. the control hub's) drained on the processing thread."""
        self._feeds.append(drain)

    # -- processing thread ----------------------------------------------------------
    def push(self, separated: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray, next_frame: int) -> None:
        """One block of separated audio [n, 2] with its VAD windows; `next_frame`: the first frame not finished yet."""
        self._audio_end += len(separated)
        if self.wav2vec is not None:
            self.wav2vec.push(separated)
            self._encode_ready_hops()
        if self.source is not None:
            for drain in self._feeds:
                for line in drain():
                    self.source.submit(line)
            self.source.advance(separated, vad_starts, vad_probs, self._audio_end)
            lines = self.source.drain(LINES_PER_BLOCK)
            if self.encoding is None:  # offline: in place, bit-identical runs
                if lines:
                    self.words.add(lines, next_frame)  # they can only reach frames finished from now on
            else:  # live: BERT on its own thread, never in the hop
                if lines:
                    self.encoding.submit(lines)
                self.encoding.collect(next_frame)

    def _encode_ready_hops(self) -> None:
        hop = self.config.timing.hop_frames
        while True:
            needed = self.resampler.needed_end(self._next_target - 1)
            if needed <= self.wav2vec.next_frame:
                self._next_target += hop
                continue
            if not self.wav2vec.can_encode(needed):
                return
            with self.stats.stage("wav2vec2"):
                first, features = self.wav2vec.encode_until(needed)
            self.resampler.add(first, features)
            self._next_target += hop

    def finish(self, end_frame: int) -> None:
        """Input ended: compute whatever the last frames still need, padding with silence."""
        if self.wav2vec is not None and end_frame > 0:
            needed = self.resampler.needed_end(end_frame - 1)
            if needed > self.wav2vec.next_frame:
                with self.stats.stage("wav2vec2"):
                    first, features = self.wav2vec.encode_until(needed, final=True)
                self.resampler.add(first, features)

    def ready(self, frame: int) -> bool:
        return self.resampler is None or self.resampler.ready(frame)

    def take(self, frame: int) -> dict:
        out: dict = {}
        if self.resampler is not None:
            out["wav2vec"] = self.resampler.take(frame)
        if self.words is not None:
            out["words"], out["no_text"] = self.words.take(frame)
        return out

    # -- end --------------------------------------------------------------------------
    def close(self) -> None:
        if self.encoding is not None:
            self.encoding.close()
        if self.source is not None:
            self.source.close()
            segmenter = getattr(self.source, "segmenter", None)
            if segmenter is not None and segmenter.too_short:
                self.stats.count("asr_segments_too_short", segmenter.too_short)

    def summary(self) -> dict:
        out: dict = {"device": self.speech.device, "warmup_ms": self.warmup_ms}
        if self.wav2vec is not None:
            encoder = self.wav2vec.encoder
            out["wav2vec2"] = {
                "checkpoint": str(encoder.folder),
                "layout": encoder.layout,
                "dim": encoder.dim,
                "context_frames": self.wav2vec.context_frames,
                "lookahead_samples": self.wav2vec.lookahead,
                "frame_stride_samples": encoder.geometry.stride,
            }
        if self.words is not None:
            out["words"] = {**self.words.summary(), "source": self.source.name}
        return out


def _word_encoder(folder, device: str):
    """ONNX Runtime on the CPU (no torch in the live process); the torch encoder where a GPU is asked for."""
    if device == "cpu":
        from dyad.runtime.speech.onnx_word_encoder import load_onnx_word_encoder

        return load_onnx_word_encoder(folder)
    from dyad.models.bert_words import BertWordEncoder

    return BertWordEncoder.load(folder, device)
