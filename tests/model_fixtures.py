"""Tiny random models written to disk through the real save path (no trained weights exist yet)."""

from __future__ import annotations

from pathlib import Path

import torch

from dyad.models.body_net import BodyModel
from dyad.models.face_net import FaceModel
from dyad.models.model_config import BodyConfig, FaceConfig, tiny_sizes
from dyad.models.model_dir import init_model_dir
from dyad.models.skeleton import load_default_skeleton

WORD_DIM = 16
WAV2VEC_DIM = 12


def tiny_body(seed: int = 0) -> BodyModel:
    torch.manual_seed(seed)
    config = BodyConfig.for_skeleton(load_default_skeleton(), word_dim=WORD_DIM, lower_net=tiny_sizes(), upper_net=tiny_sizes())
    model = BodyModel(config)
    model.set_prior_statistics()
    return model.eval()


def tiny_face(seed: int = 0, **changes) -> FaceModel:
    torch.manual_seed(seed)
    model = FaceModel(FaceConfig(**{"wav2vec_dim": WAV2VEC_DIM, "net": tiny_sizes(), **changes}))
    model.set_prior_statistics()
    return model.eval()


def tiny_model_dir(folder: Path, seed: int = 0) -> Path:
    return init_model_dir(folder, load_default_skeleton(), tiny=True, seed=seed, word_dim=WORD_DIM, wav2vec_dim=WAV2VEC_DIM)
