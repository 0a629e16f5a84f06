"""espeak-ng speech with the synthesizer's own phoneme timing (libespeak-ng through ctypes).

The `espeak-ng` command prints phonemes (`-x`) but no timing, and `--pho` only
works with MBROLA voices. The library that ships with the Debian package
(`libespeak-ng1`) reports a PHONEME event for every phoneme it renders, with the
sample index where it starts, in the same callback that hands over the samples.
So the audio and the phoneme timeline come from one synthesis: they cannot drift.

Stress: the events carry no stress marks, so each word is also transcribed alone
(`espeak_TextToPhonemes`, mnemonics with `'` for primary stress) and the primary
stressed vowel is found by its rank among the word's vowels.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from dyad.runtime.errors import DyadError

_EVENT_WORD, _EVENT_PHONEME = 1, 7
_AUDIO_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS, _INIT_DONT_EXIT = 0x0001, 0x8000
_RATE, _PITCH = 1, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
VOWEL_START = set("aeiouAEIOUV@30")  # espeak-ng English vowel mnemonics start with one of these


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Phoneme:
    symbol: str  # espeak-ng mnemonic, "_" for a pause
    start_s: float
    end_s: float
    word: int  # index of the word it belongs to (-1 for pauses before the first word)
    stressed: bool  # the primary-stressed vowel of a content word


@dataclass(frozen=True)
class Speech:
    audio: np.ndarray  # float64 mono at `sample_rate`
    sample_rate: int
    phonemes: tuple[Phoneme, ...]
    words: tuple[str, ...]


class _Engine:
    """One process-wide libespeak-ng (it keeps global state): calls are serialised."""

    _lock = threading.Lock()
    _instance: _Engine | None = None

    def __init__(self) -> None:
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError:
            raise DyadError("libespeak-ng is not installed (Debian package espeak-ng); the corpus needs its phoneme timing") from None
        self.rate = self.lib.espeak_Initialize(_AUDIO_SYNCHRONOUS, 0, None, _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if self.rate <= 0:
            raise DyadError("libespeak-ng failed to initialise")
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self._callback = _CALLBACK(self._collect)  # kept alive: the library holds a raw pointer to it
        self.lib.espeak_SetSynthCallback(self._callback)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, str]] = []

    @classmethod
    def get(cls) -> _Engine:
        if cls._instance is None:
            cls._instance = _Engine()
        return cls._instance

    def _collect(self, wav, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (count,)).astype(np.float64) / 32768.0)
        i = 0
        while events[i].type != 0:
            e = events[i]
            if e.type in (_EVENT_WORD, _EVENT_PHONEME):
                self._events.append((e.type, e.sample, e.text_position, bytes(e.id).split(b"\0")[0].decode("ascii", "replace")))
            i += 1
        return 0

    def synth(self, text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, list[tuple[int, int, int, str]]]:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise DyadError(f"espeak-ng has no voice {voice!r}")
        self.lib.espeak_SetParameter(_RATE, int(rate), 0)
        self.lib.espeak_SetParameter(_PITCH, int(min(99, max(0, pitch))), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0)
        return audio, list(self._events)

    def word_stress(self, word: str) -> int | None:
        """Rank of the primary-stressed vowel among the word's vowels, or None (unstressed word)."""
        buffer = ctypes.c_char_p(word.encode("utf-8"))
        phonemes = (self.lib.espeak_TextToPhonemes(ctypes.byref(buffer), _CHARS_UTF8, 0) or b"").decode("ascii", "replace")
        vowel, stress_next, in_vowel = 0, False, False
        for ch in phonemes:  # a run of vowel characters is one vowel (diphthongs: eI, aU, aI@)
            if ch == "'":
                stress_next = True
            is_vowel = ch in VOWEL_START
            if is_vowel and not in_vowel:
                if stress_next:
                    return vowel
                vowel += 1
            in_vowel = is_vowel
        return None


def synthesize(text: str, voice: str, rate: int, pitch: int) -> Speech:
    """Speak `text`; the phoneme list covers the whole audio (pauses included)."""
    with _Engine._lock:
        engine = _Engine.get()
        audio, events = engine.synth(text, voice, rate, pitch)
        words = _words(text, events)
        stress = [engine.word_stress(w) for w in words]
    sr = engine.rate
    return Speech(audio, sr, tuple(_phonemes(events, stress, len(audio), sr)), tuple(words))


def _words(text: str, events: list) -> list[str]:
    starts = [pos for kind, _, pos, _ in events if kind == _EVENT_WORD]
    data = text.encode("utf-8")
    out = []
    for pos in starts:  # text positions are 1-based character offsets
        chunk = data[max(pos - 1, 0) :].decode("utf-8", "replace").split()
        out.append(chunk[0].strip(".,!?;:\"'") if chunk else "")
    return out


def _phonemes(events: list, stress: list[int | None], total: int, sr: int) -> list[Phoneme]:
    items, word, vowel_rank = [], -1, 0
    for kind, sample, _, name in events:
        if kind == _EVENT_WORD:
            word, vowel_rank = word + 1, 0
            continue
        is_vowel = bool(name) and name[0] in VOWEL_START
        stressed = is_vowel and 0 <= word < len(stress) and stress[word] == vowel_rank
        vowel_rank += int(is_vowel)
        items.append([name or "_", sample, word, stressed])
    out = []
    for i, (name, sample, w, stressed) in enumerate(items):
        end = items[i + 1][1] if i + 1 < len(items) else total
        if end > sample:
            out.append(Phoneme(name if not name.startswith("_") else "_", sample / sr, end / sr, w, stressed))
    return out
