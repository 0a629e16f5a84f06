"""Whisper speech recognition with word timestamps, from a local checkpoint folder.

The folder is what `WhisperForConditionalGeneration.save_pretrained` and
`WhisperProcessor.save_pretrained` write: config.json (model_type "whisper"),
weights, generation_config.json, the tokenizer and the feature extractor.
Word times come from the cross-attention of the heads listed in
`generation_config.alignment_heads` (dynamic time warping, as in OpenAI's
Whisper), through the transformers ASR pipeline; a checkpoint without
alignment heads cannot give word times and is refused.

Segments are short (a VAD-closed utterance, under 30 s) and transcribed in
one batch, one segment per person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.models.local_checkpoints import (
    CheckpointError,
    checkpoint_folder,
    first_line,
    import_transformers,
    load_failure,
    require_model_type,
    torch_device,
)

WHAT = "Whisper"
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class RecognizedWord:
    text: str
    start_s: float  # from the start of the segment
    end_s: float


class WhisperWordRecognizer:
    def __init__(self, pipe, folder: Path, generate_kwargs: dict) -> None:
        self._pipe = pipe
        self.folder = folder
        self._generate_kwargs = generate_kwargs

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", language: str | None = None, max_new_tokens: int = 128) -> WhisperWordRecognizer:
        folder = checkpoint_folder(path, WHAT)
        target = torch_device(device)
        require_model_type(folder, WHAT, ("whisper",))
        transformers = import_transformers()
        try:
            processor = transformers.WhisperProcessor.from_pretrained(folder, local_files_only=True)
        except Exception as error:
            raise CheckpointError(f"{WHAT}: tokenizer or feature extractor missing or unreadable in {folder}: {first_line(error)}") from None
        try:
            model = transformers.WhisperForConditionalGeneration.from_pretrained(folder, local_files_only=True)
        except Exception as error:
            raise load_failure(WHAT, folder, error) from None
        generation = model.generation_config
        if not getattr(generation, "alignment_heads", None):
            raise CheckpointError(f"{WHAT}: {folder} generation_config has no alignment_heads, so it cannot give word timestamps")
        tokenizer = processor.tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token  # batching pads with it; Whisper tokenizers use <|endoftext|>
        model = model.eval().to(target)
        pipe = transformers.pipeline(
            "automatic-speech-recognition", model=model, tokenizer=tokenizer, feature_extractor=processor.feature_extractor, device=target
        )
        # The prompt (start, language, task tokens) shares the decoder's positions with the text.
        kwargs: dict = {"max_new_tokens": min(max_new_tokens, model.config.max_target_positions // 2)}
        if getattr(generation, "is_multilingual", False):
            kwargs["task"] = "transcribe"
            if language is not None:
                kwargs["language"] = language
        return cls(pipe, folder, kwargs)

    def transcribe(self, segments: list[np.ndarray]) -> list[list[RecognizedWord]]:
        """Words with times (seconds from each segment's start) for each float32 16 kHz segment."""
        if not segments:
            return []
        inputs = [{"raw": np.asarray(s, np.float32), "sampling_rate": SAMPLE_RATE} for s in segments]
        results = self._pipe(inputs, return_timestamps="word", batch_size=len(inputs), generate_kwargs=dict(self._generate_kwargs))
        return [_words(result, len(segment) / SAMPLE_RATE) for result, segment in zip(results, segments)]


def _words(result: dict, duration_s: float) -> list[RecognizedWord]:
    """Pipeline chunks -> words inside the segment; a missing end (cut-off audio) ends at the next start or the segment end."""
    chunks = result.get("chunks") or []
    words: list[RecognizedWord] = []
    for index, chunk in enumerate(chunks):
        text = chunk.get("text", "").strip()
        start, end = chunk.get("timestamp", (None, None))
        if not text or start is None:
            continue
        if end is None:
            following = chunks[index + 1].get("timestamp", (None,))[0] if index + 1 < len(chunks) else None
            end = following if following is not None else duration_s
        start = min(max(float(start), 0.0), duration_s)
        end = min(max(float(end), start), duration_s)
        words.append(RecognizedWord(text, start, end))
    return words
