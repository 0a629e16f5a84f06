"""The live path's word encoder (ONNX Runtime + tokenizers) against the torch/transformers one it replaces."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dyad.models.bert_words import BertWordEncoder
from dyad.models.local_checkpoints import CheckpointError
from dyad.models.word_tokens import packaged_minilm_folder
from dyad.runtime.speech import onnx_word_encoder
from dyad.runtime.speech.onnx_word_encoder import export_folder, load_onnx_word_encoder

LINES = [
    ["so", "we", "met", "at", "the", "station,", "didn't", "we?"],
    ["Zürich", "naïve", "café", "—", "ok"],
    ["yes"],
    ["a"] * 600,  # past the 512-token limit: the tail words get no token and a zero vector
]


@pytest.fixture(scope="module")
def minilm_torch() -> BertWordEncoder:
    return BertWordEncoder.load(packaged_minilm_folder())


@pytest.fixture(scope="module")
def minilm_onnx():
    return load_onnx_word_encoder(packaged_minilm_folder())  # exports once per cache (child process), then reuses


def test_onnx_word_vectors_match_the_torch_encoder_in_one_padded_batch(minilm_torch, minilm_onnx):
    want, got = minilm_torch.encode(LINES), minilm_onnx.encode(LINES)
    assert minilm_onnx.dim == minilm_torch.dim == 384
    for (w_vec, w_mask), (g_vec, g_mask) in zip(want, got, strict=True):
        np.testing.assert_array_equal(g_mask, w_mask)
        np.testing.assert_allclose(g_vec, w_vec, atol=1e-4)
    assert not got[3][1].all() and got[3][1][:100].all()  # truncation happened where transformers' did
    assert minilm_onnx.encode([]) == []


def test_tokenizers_library_gives_transformers_token_ids(minilm_torch, minilm_onnx):
    texts = [" ".join(line) for line in LINES[:3]]
    ours = [e.ids for e in minilm_onnx.tokenizer.encode_batch(texts)]
    theirs = minilm_torch.tokenizer(texts, padding=True)["input_ids"]
    assert ours == theirs


def test_a_cached_export_is_reused_and_a_changed_checkpoint_gets_its_own(minilm_onnx, monkeypatch, tmp_path):
    def refuse(*_args):
        raise AssertionError("exported again although the cache holds the export")

    monkeypatch.setattr(onnx_word_encoder, "_export_in_child", refuse)
    again = load_onnx_word_encoder(packaged_minilm_folder())
    assert again.export_folder == minilm_onnx.export_folder == export_folder(packaged_minilm_folder().resolve())
    assert again.folder == packaged_minilm_folder().resolve()  # session.json names the checkpoint, not the cache
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (copy / name).write_bytes((packaged_minilm_folder() / name).read_bytes())
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    assert export_folder(copy) != export_folder(packaged_minilm_folder().resolve())


def test_a_damaged_cache_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(onnx_word_encoder.CACHE_ENV, str(tmp_path))
    target = export_folder(packaged_minilm_folder().resolve())
    target.mkdir(parents=True)
    (target / "words.json").write_text(json.dumps({"format": "dyad.words.onnx", "dim": 384, "max_tokens": 512,
                                                   "inputs": ["input_ids"], "pad_id": 0, "pad_token": "[PAD]"}))  # fmt: skip
    with pytest.raises(CheckpointError, match=r"cannot load the ONNX word encoder .*\(delete the folder"):
        load_onnx_word_encoder(packaged_minilm_folder())


def test_an_export_failure_in_the_child_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv(onnx_word_encoder.CACHE_ENV, str(tmp_path / "cache"))
    broken = tmp_path / "bert"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(CheckpointError, match="^BERT: exporting .* failed: ") as error:
        load_onnx_word_encoder(broken)
    assert "\n" not in str(error.value)
    assert not list((tmp_path / "cache" / "words").iterdir())  # no half-written export left behind


def test_loading_the_onnx_encoder_never_imports_torch(minilm_onnx):
    script = (
        "import sys; from dyad.runtime.speech.onnx_word_encoder import load_onnx_word_encoder as load;"
        "from dyad.models.word_tokens import packaged_minilm_folder as f; load(f()).encode([['hi', 'there']]);"
        "print(sorted(m for m in ('torch', 'transformers', 'torchaudio') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
