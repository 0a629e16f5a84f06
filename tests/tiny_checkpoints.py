"""Tiny random checkpoints written to disk through the real `save_pretrained` / torch.save paths.

Nothing here is downloaded: configs use tiny dimensions and the Whisper
tokenizer is built from a byte-level vocabulary written here. The models are
untrained (random weights); tests use them to exercise loading, streaming and
decoding, not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dyad.models.local_checkpoints import import_transformers

# Standard Wav2Vec2 front end geometry (kernel, stride) with tiny channel counts.
CONV_LAYERS = [(16, 10, 5)] + [(16, 3, 2)] * 4 + [(16, 2, 2)] * 2
WHISPER_WORDS = ("hello", "there", "dyad", "talk")


def hf_wav2vec2(folder: Path, layers: int = 2, pos_kernel: int = 16, seed: int = 0, normalize: bool = False) -> Path:
    """A Hugging Face layout Wav2Vec2 (stable layer norm, as wav2vec2-large): `layers` transformer layers."""
    transformers = import_transformers()
    torch.manual_seed(seed)
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=tuple(c for c, _, _ in CONV_LAYERS),
        conv_kernel=tuple(k for _, k, _ in CONV_LAYERS),
        conv_stride=tuple(s for _, _, s in CONV_LAYERS),
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=pos_kernel,
        num_conv_pos_embedding_groups=4,
    )
    transformers.Wav2Vec2Model(config).save_pretrained(folder)
    if normalize:
        transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(folder)
    return folder


def torchaudio_params(layers: int = 2) -> dict:
    return {
        "extractor_mode": "layer_norm",
        "extractor_conv_layer_config": [list(c) for c in CONV_LAYERS],
        "extractor_conv_bias": True,
        "encoder_embed_dim": 32,
        "encoder_projection_dropout": 0.0,
        "encoder_pos_conv_kernel": 16,
        "encoder_pos_conv_groups": 4,
        "encoder_num_layers": layers,
        "encoder_num_heads": 2,
        "encoder_attention_dropout": 0.0,
        "encoder_ff_interm_features": 64,
        "encoder_ff_interm_dropout": 0.0,
        "encoder_dropout": 0.0,
        "encoder_layer_norm_first": True,
        "encoder_layer_drop": 0.0,
        "aux_num_out": None,
    }


def torchaudio_wav2vec2(folder: Path, seed: int = 0) -> tuple[Path, torch.nn.Module]:
    """A torchaudio layout Wav2Vec2 (dyad's format) and the in-memory model it was saved from."""
    import torchaudio

    from dyad.models.wav2vec2 import save_torchaudio_wav2vec2

    torch.manual_seed(seed)
    params = torchaudio_params()
    model = torchaudio.models.wav2vec2_model(**params).eval()
    return save_torchaudio_wav2vec2(model, params, folder), model


def _byte_level_bpe(words: tuple[str, ...]) -> tuple[dict[str, int], list[tuple[str, str]], list[str]]:
    """Byte alphabet plus merges that build ' word' for each word; returns (vocab, merges, whole-word tokens)."""
    from tokenizers import pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges, whole = [], []
    for word in words:
        token = "Ġ"  # the byte-level symbol of a leading space
        for char in word:
            merges.append((token, char))
            token += char
            vocab.setdefault(token, len(vocab))
        whole.append(token)
    return vocab, merges, whole


def whisper(folder: Path, seed: int = 0, alignment_heads: bool = True, processor: bool = True) -> Path:
    """A 1+1 layer Whisper whose decoder may only say a few whole words (all other text tokens suppressed)."""
    transformers = import_transformers()
    vocab, merges, whole = _byte_level_bpe(WHISPER_WORDS)
    tokenizer = transformers.WhisperTokenizer(vocab=vocab, merges=merges, pad_token="<|endoftext|>")
    specials = ["<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    specials += [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in ["<|endoftext|>", *specials[:8]]}
    word_ids = {tokenizer.convert_tokens_to_ids(t) for t in whole}
    eos = ids["<|endoftext|>"]
    torch.manual_seed(seed)
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=32,  # at most 16 new tokens per segment: cheap decoding
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    model = transformers.WhisperForConditionalGeneration(config)
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=eos,
        pad_token_id=eos,
        bos_token_id=eos,
        no_timestamps_token_id=ids["<|notimestamps|>"],
        prev_sot_token_id=ids["<|startofprev|>"],
        is_multilingual=True,
        lang_to_id={"<|en|>": ids["<|en|>"]},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        alignment_heads=[[0, 0], [0, 1]] if alignment_heads else None,
        max_initial_timestamp_index=50,
        max_length=32,
        begin_suppress_tokens=[],
        # Only whole words, end of text and timestamps may be generated: the text is readable words.
        suppress_tokens=[i for i in range(eos) if i not in word_ids],
    )
    model.save_pretrained(folder)
    if processor:
        transformers.WhisperProcessor(feature_extractor=transformers.WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(folder)
    return folder
