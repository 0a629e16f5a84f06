"""Files shipped with the runtime: the demo dialogue (WAV) and its timed transcript."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEMO_AUDIO = "demo_dialogue.wav"


def demo_audio_path() -> Path:
    return Path(str(resources.files(__name__).joinpath(DEMO_AUDIO)))


def demo_transcript_path() -> Path:
    """The timed transcript of the demo dialogue (person<TAB>start_s<TAB>end_s<TAB>text)."""
    return demo_audio_path().with_suffix(".txt")
