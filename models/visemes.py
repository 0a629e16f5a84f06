"""Phonemes -> visemes -> ARKit mouth shapes with coarticulation (numpy only).

Input: timed phonemes (espeak-ng mnemonics). Each phoneme maps to a viseme, a
target vector over the ARKit mouth and jaw shapes. Targets are blended with
Cohen-Massaro dominance functions: every phoneme's target pulls on the frames
around its centre with a weight that decays exponentially with the distance, so
neighbours bleed into each other (anticipatory rounding before /u/, jaw staying
open between vowels) instead of switching at phoneme borders. Bilabial closures
(/p b m/) and labiodentals (/f v/) dominate strongly so the lips do close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dyad.models.arkit import LIVE_LINK_NAMES

_NAMES = {name: i for i, name in enumerate(LIVE_LINK_NAMES)}
# The shapes a viseme track writes; the lip error metric reads the same set.
LIP_SHAPES = (
    "JawOpen", "JawForward", "MouthClose", "MouthFunnel", "MouthPucker", "MouthSmileLeft", "MouthSmileRight",
    "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight",
    "MouthUpperUpLeft", "MouthUpperUpRight", "TongueOut",
)  # fmt: skip
LIP_INDICES = np.array([_NAMES[n] for n in LIP_SHAPES])


def _t(**shapes: float) -> dict[str, float]:
    return shapes


_SYM = ("Smile", "Stretch", "Press", "LowerDown", "UpperUp")

VISEMES: dict[str, dict[str, float]] = {
    "rest": _t(MouthClose=0.05),
    "PBM": _t(MouthClose=0.45, MouthPress=0.45, MouthRollUpper=0.1, JawOpen=0.04),
    "FV": _t(MouthRollLower=0.55, MouthUpperUp=0.2, JawOpen=0.1),
    "TH": _t(TongueOut=0.3, JawOpen=0.18, MouthStretch=0.1),
    "TDN": _t(JawOpen=0.16, MouthStretch=0.15, MouthUpperUp=0.1),
    "KG": _t(JawOpen=0.22, MouthStretch=0.1),
    "SZ": _t(JawOpen=0.08, MouthStretch=0.35, MouthSmile=0.15, MouthUpperUp=0.15),
    "SH": _t(MouthFunnel=0.5, MouthPucker=0.25, JawOpen=0.12, JawForward=0.1),
    "R": _t(MouthPucker=0.35, MouthFunnel=0.25, JawOpen=0.12),
    "W": _t(MouthPucker=0.7, MouthFunnel=0.2, JawOpen=0.06),
    "L": _t(JawOpen=0.22, TongueOut=0.05, MouthStretch=0.1),
    "AA": _t(JawOpen=0.62, MouthLowerDown=0.3, MouthUpperUp=0.1),
    "AE": _t(JawOpen=0.48, MouthStretch=0.3, MouthLowerDown=0.25, MouthSmile=0.1),
    "EH": _t(JawOpen=0.38, MouthStretch=0.3, MouthLowerDown=0.2),
    "IY": _t(JawOpen=0.15, MouthSmile=0.35, MouthStretch=0.35, MouthUpperUp=0.1),
    "IH": _t(JawOpen=0.24, MouthStretch=0.25, MouthSmile=0.15),
    "ER": _t(JawOpen=0.25, MouthFunnel=0.35, MouthPucker=0.15),
    "AH": _t(JawOpen=0.4, MouthLowerDown=0.15, MouthShrugUpper=0.1),
    "AO": _t(JawOpen=0.5, MouthFunnel=0.35, MouthPucker=0.1),
    "OW": _t(JawOpen=0.32, MouthFunnel=0.45, MouthPucker=0.35),
    "UW": _t(JawOpen=0.14, MouthPucker=0.65, MouthFunnel=0.35),
    "UH": _t(JawOpen=0.24, MouthPucker=0.35, MouthFunnel=0.2),
}

# espeak-ng English mnemonics (first match wins: longer symbols first)
_PHONEME_VISEME = {
    "p": "PBM", "b": "PBM", "m": "PBM", "f": "FV", "v": "FV", "T": "TH", "D": "TH",
    "t": "TDN", "d": "TDN", "n": "TDN", "k": "KG", "g": "KG", "N": "KG", "h": "AH",
    "s": "SZ", "z": "SZ", "S": "SH", "Z": "SH", "tS": "SH", "dZ": "SH", "r": "R", "w": "W", "j": "IY", "l": "L",
    "aU": "AA", "aI": "AA", "a": "AE", "A": "AA", "e": "EH", "E": "EH", "eI": "EH", "i": "IY", "I": "IH",
    "3": "ER", "@": "AH", "V": "AH", "0": "AO", "O": "AO", "OI": "AO", "oU": "OW", "o": "OW", "u": "UW", "U": "UH",
}  # fmt: skip
_KEYS = sorted(_PHONEME_VISEME, key=len, reverse=True)
# dominance strength and decay rate (1/s) per viseme class: closures dominate and are sharp
_STRENGTH = {"PBM": 4.0, "FV": 3.0, "W": 2.0, "SH": 1.6, "rest": 0.6}
_DECAY = {"PBM": 30.0, "FV": 28.0, "rest": 10.0}


def viseme_of(symbol: str) -> str:
    if not symbol or symbol.startswith("_"):
        return "rest"
    for key in _KEYS:
        if symbol.startswith(key):
            return _PHONEME_VISEME[key]
    return "TDN"  # unknown consonant-like symbols: a neutral, slightly open mouth


def target_vector(viseme: str) -> np.ndarray:
    out = np.zeros(len(LIVE_LINK_NAMES))
    for name, value in VISEMES[viseme].items():
        names = [name + "Left", name + "Right"] if name.removeprefix("Mouth") in _SYM else [name]
        for n in names:
            out[_NAMES[n]] = value
    return out


@dataclass(frozen=True)
class TimedPhoneme:
    symbol: str
    start_s: float
    end_s: float
    stressed: bool = False


def viseme_track(phonemes: list[TimedPhoneme], frames: int, fps: int, openness: float = 1.0) -> np.ndarray:
    """[frames, 61] mouth values (other channels 0) sampled at frame centres, 0..1.

    `openness` scales the jaw and lip opening (a speaker's articulation style);
    stressed vowels open 25 % more."""
    out = np.zeros((frames, len(LIVE_LINK_NAMES)))
    if not phonemes:
        return out + target_vector("rest")
    times = (np.arange(frames) + 0.5) / fps
    num = np.zeros_like(out)
    den = np.zeros(frames)
    for p in phonemes:
        v = viseme_of(p.symbol)
        centre = 0.5 * (p.start_s + p.end_s)
        half = max(0.5 * (p.end_s - p.start_s), 0.02)
        strength = _STRENGTH.get(v, 1.0)
        decay = _DECAY.get(v, 16.0)
        distance = np.maximum(np.abs(times - centre) - 0.5 * half, 0.0)  # flat over the phoneme's core
        weight = strength * np.exp(-decay * distance)
        scale = openness * (1.25 if p.stressed else 1.0) if v != "rest" else 1.0
        num += weight[:, None] * target_vector(v)[None] * scale
        den += weight
    rest = np.full(frames, 0.05)  # a weak pull to rest everywhere: long pauses settle closed
    num += rest[:, None] * target_vector("rest")[None]
    den += rest
    return np.clip(num / den[:, None], 0.0, 1.0)
