"""Export a BERT-family word encoder to ONNX once, so live sessions run it without torch.

The folder written holds `model.onnx` (token ids -> last hidden state, batch and
token axes dynamic), a copy of the checkpoint's `tokenizer.json` (read by the
`tokenizers` library at run time) and `words.json`: the source's fingerprint,
the encoder's width and token limit, and the parity measured against the torch
encoder on a few lines, which must hold within WORD_ATOL.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from dyad.models.bert_words import BertWordEncoder
from dyad.models.local_checkpoints import CheckpointError
from dyad.models.onnx_words import WORDS_FORMAT, WORDS_VERSION, OnnxWordEncoder, source_fingerprint

OPSET = 17
WORD_ATOL = 2e-3  # word vectors are means of hidden states of size ~1: float32 graph differences stay far below
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
PARITY_LINES = (["warm", "up"], ["so", "we", "met", "at", "the", "station,", "didn't", "we?"], ["Zürich", "naïve", "café"])


class _LastHidden(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs))).last_hidden_state


def export_word_encoder(source: str | Path, out_dir: str | Path) -> dict:
    """Export the encoder in `source` to `out_dir`; returns what words.json records. Parity is checked here."""
    encoder = BertWordEncoder.load(source, "cpu")
    folder, out = encoder.folder, Path(out_dir)
    if not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"BERT: {folder} has no tokenizer.json; the ONNX word encoder reads that file")
    names = tuple(name for name in INPUT_NAMES if name in encoder.tokenizer.model_input_names)
    reference = encoder.encode(list(PARITY_LINES))  # before export: tracing leaves the torch module altered
    example = encoder.tokenizer(["two words", "and three words"], padding=True, return_tensors="pt")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "model.onnx.partial"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHidden(encoder.model.float().eval(), names),
            tuple(example[name] for name in names),
            str(partial),
            input_names=list(names),
            output_names=["last_hidden_state"],
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in names}, "last_hidden_state": {0: "batch", 1: "tokens"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter, as for the denoisers: no onnxscript needed
        )
    partial.replace(out / "model.onnx")
    shutil.copyfile(folder / "tokenizer.json", out / "tokenizer.json")
    info = {
        "format": WORDS_FORMAT,
        "version": WORDS_VERSION,
        "source": str(folder),
        "fingerprint": source_fingerprint(folder),
        "dim": encoder.dim,
        "max_tokens": encoder.max_tokens,
        "inputs": list(names),
        "pad_token": encoder.tokenizer.pad_token,
        "pad_id": int(encoder.tokenizer.pad_token_id),
    }
    (out / "words.json").write_text(json.dumps(info, indent=2) + "\n")
    worst = word_parity(reference, OnnxWordEncoder(out).encode(list(PARITY_LINES)))
    if worst > WORD_ATOL:
        raise CheckpointError(f"BERT: the ONNX export of {folder} differs from torch by {worst:.2g} (tolerance {WORD_ATOL:g})")
    info["max_abs_error"] = worst
    (out / "words.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def word_parity(reference: list[tuple[np.ndarray, np.ndarray]], candidate: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Largest |candidate - reference| over the words of two encodings of the same lines; word masks must agree."""
    worst = 0.0
    for (want, want_mask), (got, got_mask) in zip(reference, candidate, strict=True):
        if not np.array_equal(want_mask, got_mask):
            raise CheckpointError("BERT: the ONNX word encoder maps tokens to words differently from the torch one")
        worst = max(worst, float(np.abs(want - got).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    """`python -m dyad.models.word_encoder_export SOURCE OUT`: export and check parity (the live path runs this as a child)."""
    import sys

    source, out = (argv if argv is not None else sys.argv[1:])[:2]
    torch.set_num_threads(1)
    try:
        export_word_encoder(source, out)
    except CheckpointError as error:
        print(f"dyad: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
