"""A BERT-family word encoder exported to ONNX, run with ONNX Runtime and the `tokenizers` library (no torch).

Same output as models.bert_words.BertWordEncoder, which a parity check at
export (models.word_encoder_export) and a test hold it to. An export folder
holds `model.onnx` (token ids -> last hidden state), the checkpoint's
`tokenizer.json` and `words.json` (format, source fingerprint, width, token
limit, input names, padding token).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from dyad.models.local_checkpoints import CheckpointError
from dyad.models.word_tokens import line_text, pool_words

WORDS_FORMAT = "dyad.words.onnx"
WORDS_VERSION = 1


def source_fingerprint(folder: Path) -> str:
    """Hash of the config, the tokenizer and the weights' names and sizes: a changed checkpoint gets a new export."""
    digest = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        path = folder / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b"-"))
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


class OnnxWordEncoder:
    def __init__(self, folder: Path, threads: int = 1, source: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.export_folder = folder
        info = json.loads((folder / "words.json").read_text())
        self.folder = source or Path(info.get("source", folder))  # the checkpoint it stands for, as session.json names it
        if info.get("format") != WORDS_FORMAT:
            raise CheckpointError(f"BERT: {folder} is not an ONNX word encoder export (words.json format {info.get('format')!r})")
        self.dim = int(info["dim"])
        self.max_tokens = int(info["max_tokens"])
        self.inputs = tuple(info["inputs"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.enable_padding(pad_id=int(info["pad_id"]), pad_token=str(info["pad_token"]))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(folder / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"])

    def encode(self, lines: list[list[str]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each line (a list of words), ([words, dim] float32 vectors, [words] bool: got at least one token)."""
        if not lines:
            return []
        texts, starts = zip(*(line_text(words) for words in lines))
        encodings = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], np.int64),
        }
        hidden = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
        results = []
        for b, words in enumerate(lines):
            skip = np.array(encodings[b].special_tokens_mask, bool) | (arrays["attention_mask"][b] == 0)
            results.append(pool_words(hidden[b], np.array(encodings[b].offsets, np.int64), skip, words, starts[b]))
        return results
