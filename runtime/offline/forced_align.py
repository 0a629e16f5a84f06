"""Forced alignment of a transcript to real speech with PocketSphinx's packaged English model.

The phone timings a real acoustic model finds in a real voice are the lip target of the
real-voice evaluation: they are mapped to visemes and blended with exactly the rules the
synthetic corpus uses for its own ground truth (`dyad.models.visemes`), so "lip error"
means the same thing on both. PocketSphinx phones are ARPAbet (CMUdict); each is written
as the espeak-ng mnemonic of the same sound, which `viseme_of` already knows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dyad.models.visemes import TimedPhoneme
from dyad.runtime.errors import DyadError

RATE = 16000
FRAME_S = 0.01  # PocketSphinx's frame: 100 per second

ARPABET_TO_ESPEAK = {
    "AA": "A", "AE": "a", "AH": "V", "AO": "O", "AW": "aU", "AY": "aI", "EH": "E", "ER": "3", "EY": "eI",
    "IH": "I", "IY": "i", "OW": "oU", "OY": "OI", "UH": "U", "UW": "u",
    "B": "b", "CH": "tS", "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k", "L": "l",
    "M": "m", "N": "n", "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t", "TH": "T", "V": "v",
    "W": "w", "Y": "j", "Z": "z", "ZH": "Z",
}  # fmt: skip


@dataclass(frozen=True)
class AlignedPhone:
    phone: str  # ARPAbet, or SIL / a noise phone
    start_s: float
    end_s: float


def normalise_text(text: str) -> list[str]:
    """Lower case words without punctuation (apostrophes kept: CMUdict has "don't")."""
    return [w for w in re.sub(r"[^a-z' ]+", " ", text.lower()).split() if w.strip("'")]


def _decoder():
    from pocketsphinx import Decoder

    return Decoder(samprate=RATE, bestpath=False, loglevel="FATAL")


def align(audio: np.ndarray, text: str) -> list[AlignedPhone]:
    """Phones of `text` in `audio` (float mono at 16 kHz), in seconds from the start of `audio`.

    Raises DyadError for a word the dictionary does not know or an alignment that fails."""
    words = normalise_text(text)
    if not words:
        raise DyadError("forced alignment needs a transcript with at least one word")
    decoder = _decoder()
    unknown = [w for w in words if decoder.lookup_word(w) is None]
    if unknown:
        raise DyadError(f"forced alignment: the English dictionary lacks {', '.join(sorted(set(unknown)))}")
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
    try:
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        decoder.set_alignment()  # second pass: phone (and state) durations
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        alignment = decoder.get_alignment()
    except RuntimeError as error:
        raise DyadError(f"forced alignment failed: {error}") from None
    if alignment is None:
        raise DyadError("forced alignment failed: the decoder found no path through the transcript")
    return [
        AlignedPhone(phone.name, phone.start * FRAME_S, (phone.start + phone.duration) * FRAME_S)
        for word in alignment
        for phone in word
    ]


def timed_phonemes(phones: list[AlignedPhone], offset_s: float = 0.0, start_s: float = 0.0, end_s: float = float("inf")) -> list[TimedPhoneme]:
    """The phones inside [start_s, end_s) of the recording, moved by `offset_s`, as the viseme
    rules' input (silence and noise phones become rest)."""
    out = []
    for p in phones:
        if p.end_s <= start_s or p.start_s >= end_s:
            continue
        symbol = ARPABET_TO_ESPEAK.get(p.phone, "_")
        out.append(TimedPhoneme(symbol, max(p.start_s, start_s) + offset_s, min(p.end_s, end_s) + offset_s))
    return out
