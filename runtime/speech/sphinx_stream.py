"""One person's PocketSphinx decoder, streaming: VAD-gated utterances, a partial hypothesis every hop.

The decoder only hears speech: an utterance opens when the person's Silero probability
reaches 0.5 (with `pad_s` of audio before that window, onsets are soft) and ends once it
has stayed below 0.35 for `min_silence_s`, the hysteresis the Whisper segmenter uses.
Silence costs nothing, and long speech is cut every `max_utterance_s`.

While an utterance is open, every `partial_every_s` of new audio the decoder's partial
hypothesis (its word segmentation so far) goes through the local-agreement policy
(`local_agreement.py`): words two consecutive hypotheses agree on, ended at least
`settle_s` before the audio heard, are committed. When the utterance ends, the
decoder's final pass commits the rest. Word times come from the decoder's 10 ms frames,
counted from the utterance's first sample on the session's absolute sample clock.

Audio arrives in chunks that carry their absolute start sample. A chunk that does not
start where the last one ended means audio was dropped upstream (the recogniser fell
behind): the open utterance ends there and the gate waits for the next speech onset,
so no word is ever timed across the gap.

This module imports pocketsphinx and numpy only; it runs inline (offline sessions) or
inside the recogniser process (`sphinx_worker.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.runtime.speech.local_agreement import LocalAgreement
from dyad.runtime.speech.words import TimedWord

SPEECH_ON = 0.5
SPEECH_OFF = 0.35
FRAME_S = 0.01  # PocketSphinx's frame: 100 per second
_ALTERNATE = re.compile(r"\(\d+\)$")  # "excuse(2)": the dictionary's second pronunciation


@dataclass(frozen=True)
class SphinxSettings:
    model: str | None = None  # folder with an acoustic model, a .dict and a language model; None: the packaged English
    sample_rate: int = 16000
    vad_window: int = 512  # samples per Silero window
    min_silence_s: float = 0.3
    max_utterance_s: float = 15.0
    pad_s: float = 0.2
    partial_every_s: float = 2 / 30  # one hop at the default 30 fps, 2 frames per hop
    settle_s: float = 0.4  # chosen on ../shared/realvoice, default search: streamed WER 0.56 (0.70 at 0.1 s), lateness p95 0.64 s offline
    max_backlog_s: float = 2.0  # audio waiting for the recogniser process; beyond it the oldest is dropped
    second_pass: bool = False  # PocketSphinx's flat-lexicon and lattice passes at each utterance end: see make_decoder


@dataclass(frozen=True)
class SpeechBlock:
    """A block of separated audio for the recogniser: int16 [n, people] with the VAD windows it completed."""

    start_sample: int
    audio: np.ndarray  # int16 [n, people]
    vad_starts: np.ndarray  # absolute first sample of each VAD window finished with this block
    vad_probs: np.ndarray  # [windows, people]

    @property
    def end_sample(self) -> int:
        return self.start_sample + len(self.audio)


def model_files(folder: Path) -> dict[str, str]:
    """The decoder's hmm / dict / lm paths in a model folder laid out as pocketsphinx's own: raises ValueError naming what is missing."""
    if not folder.is_dir():
        raise ValueError(f"model folder {folder} not found")
    hmms = [p for p in folder.iterdir() if p.is_dir() and (p / "mdef").exists()]
    dicts = sorted(folder.glob("*.dict"))
    lms = sorted(folder.glob("*.lm.bin")) + sorted(folder.glob("*.lm")) + sorted(folder.glob("*.DMP"))
    missing = [what for what, found in (("an acoustic model folder (with mdef)", hmms), ("a .dict", dicts), ("a .lm.bin/.lm language model", lms)) if not found]
    if missing:
        raise ValueError(f"model folder {folder} lacks {', '.join(missing)}")
    return {"hmm": str(hmms[0]), "dict": str(dicts[0]), "lm": str(lms[0])}


def make_decoder(settings: SphinxSettings):
    """A PocketSphinx decoder; raises RuntimeError / ValueError with the reason when it cannot start."""
    from pocketsphinx import Decoder

    paths = {} if settings.model is None else model_files(Path(settings.model))
    # Without the second passes an utterance's end costs nothing extra (they re-decode the whole utterance: seconds
    # of CPU at once for long speech), and the final words are those the partial hypotheses were converging to.
    passes = {} if settings.second_pass else {"fwdflat": False, "bestpath": False}
    # Search limits, measured on ../shared/realvoice (2-core Xeon): at most 3000 active HMMs and 5 word exits per
    # frame (24 % less decoder CPU), beams of 1e-40 instead of 1e-48 (20 % less again); the streamed WER goes from
    # 0.56 to 0.61. Beams of 1e-32 lost most words (whole-utterance WER 0.52 -> 0.83).
    limits = {"maxhmmpf": 3000, "maxwpf": 5, "beam": 1e-40, "pbeam": 1e-40}
    return Decoder(samprate=settings.sample_rate, loglevel="FATAL", **limits, **paths, **passes)


def word_text(token: str) -> str | None:
    """A dictionary token as a word; None for fillers (<s>, </s>, <sil>, [NOISE], +BREATH+)."""
    if not token or token[0] in "<[+":
        return None
    return _ALTERNATE.sub("", token)


class SphinxStream:
    def __init__(self, person: int, settings: SphinxSettings, decoder=None) -> None:
        self.person = person
        self.settings = settings
        self.decoder = decoder if decoder is not None else make_decoder(settings)
        rate = settings.sample_rate
        self._pad = int(settings.pad_s * rate)
        self._min_silence = int(settings.min_silence_s * rate)
        self._max_utterance = int(settings.max_utterance_s * rate)
        self._partial_every = max(1, int(settings.partial_every_s * rate))
        self._buffer = np.zeros(0, np.int16)
        self._buffer_start = 0  # absolute sample of _buffer[0]
        self._expected: int | None = None
        self._utterance: int | None = None  # absolute first sample of the open utterance
        self._fed = 0  # absolute end of the audio the decoder has heard
        self._voiced_end = 0
        self._last_partial = 0
        self.policy = LocalAgreement(settings.settle_s)
        self.gaps = 0
        self.utterances = 0
        self.partials = 0
        self.samples_decoded = 0

    def feed(self, start_sample: int, audio: np.ndarray, vad_starts: np.ndarray, vad_probs: np.ndarray) -> list[TimedWord]:
        """One chunk of this person's int16 audio and VAD; returns the words it committed."""
        words: list[TimedWord] = []
        if self._expected is not None and start_sample != self._expected:
            self.gaps += 1
            if self._utterance is not None:
                words += self._end_utterance()
            self._buffer = np.zeros(0, np.int16)
        if not len(self._buffer):
            self._buffer_start = start_sample
        self._expected = start_sample + len(audio)
        self._buffer = np.concatenate([self._buffer, np.asarray(audio, np.int16)])
        window = self.settings.vad_window
        for start, prob in zip(np.asarray(vad_starts).tolist(), np.asarray(vad_probs).tolist()):
            if start < self._buffer_start:
                continue  # a window over audio dropped before this chunk
            if self._utterance is None:
                if prob >= SPEECH_ON:
                    self._begin(max(start - self._pad, self._buffer_start), start + window)
                continue
            if prob >= SPEECH_OFF:
                self._voiced_end = start + window
            if start + window - self._voiced_end >= self._min_silence:
                self._feed_until(start + window)
                words += self._end_utterance()
        if self._utterance is not None:
            words += self._advance_open()
        self._trim()
        return words

    def finish(self) -> list[TimedWord]:
        """Input ended: the open utterance's final words."""
        return self._end_utterance() if self._utterance is not None else []

    # -- utterances -------------------------------------------------------------------
    def _begin(self, first: int, voiced_end: int) -> None:
        self.decoder.start_utt()
        self._utterance = self._fed = self._last_partial = first
        self._voiced_end = voiced_end
        self.utterances += 1

    def _advance_open(self) -> list[TimedWord]:
        words: list[TimedWord] = []
        self._feed_until(self._buffer_start + len(self._buffer))
        if self._fed - self._utterance >= self._max_utterance:  # long speech: cut here, go on in a new utterance
            words += self._end_utterance()
            self._begin(self._fed, self._fed)
        elif self._fed - self._last_partial >= self._partial_every:
            self._last_partial = self._fed
            self.partials += 1
            words += self.policy.update(self._hypothesis(), horizon_s=self._fed / self.settings.sample_rate)
        return words

    def _end_utterance(self) -> list[TimedWord]:
        self.decoder.end_utt()
        final = self._hypothesis()
        self._utterance = None
        return self.policy.finish(final)

    def _feed_until(self, end: int) -> None:
        first = self._fed - self._buffer_start
        stop = min(end, self._buffer_start + len(self._buffer)) - self._buffer_start
        if stop > first:
            self.decoder.process_raw(self._buffer[first:stop].tobytes())
            self.samples_decoded += stop - first
            self._fed = self._buffer_start + stop

    def _hypothesis(self) -> list[TimedWord]:
        offset = self._utterance / self.settings.sample_rate
        words = []
        for segment in self.decoder.seg() or ():
            text = word_text(segment.word)
            if text:
                words.append(TimedWord(text, offset + segment.start_frame * FRAME_S, offset + (segment.end_frame + 1) * FRAME_S))
        return words

    def _trim(self) -> None:
        """Keep only what is still needed: unheard audio of an open utterance, else the pre-roll."""
        end = self._buffer_start + len(self._buffer)
        keep_from = self._fed if self._utterance is not None else end - self._pad - 2 * self.settings.vad_window
        drop = max(0, min(keep_from, end) - self._buffer_start)
        if drop:
            self._buffer = self._buffer[drop:]
            self._buffer_start += drop
