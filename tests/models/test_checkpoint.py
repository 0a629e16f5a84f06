"""Checkpoints: safetensors with the config inside, load errors that name the tensor, the denoiser swap, model folders."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dyad.models.checkpoint import ModelLoadError, check_skeleton, load_checkpoint, load_face_swapped, save_checkpoint
from dyad.models.model_config import BodyConfig
from dyad.models.model_dir import load_model_dir
from dyad.models.skeleton import load_default_skeleton, parse_bvh_hierarchy
from model_fixtures import WAV2VEC_DIM, tiny_body, tiny_face, tiny_model_dir

SMALL_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 1 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT LeftUpLeg
  {
    OFFSET 0.1 -0.1 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 -0.9 0
    }
  }
}
"""


def rewrite(path, tensors=None, metadata=None):
    """Re-save a checkpoint with some tensors or metadata changed (what a broken file looks like)."""
    with safe_open(str(path), framework="pt") as handle:
        old_meta = handle.metadata()
        old = {name: handle.get_tensor(name) for name in handle.keys()}
    save_file(tensors(old) if tensors else old, str(path), metadata=metadata(old_meta) if metadata else old_meta)


def test_round_trip_keeps_every_tensor_and_the_config(tmp_path):
    body = tiny_body()
    path = save_checkpoint(tmp_path / "body.safetensors", body, trained=False)
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["format"] == "dyad.checkpoint" and meta["kind"] == "body" and meta["trained"] == "false"
    assert json.loads(meta["config"])["lower_net"]["width"] == 32
    loaded, _ = load_checkpoint(path, "body")
    assert loaded.config == body.config and not loaded.training
    for name, value in body.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name


def test_a_missing_tensor_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "body.safetensors", tiny_body())
    gone = "upper.denoiser.blocks.0.cross_attn.q.weight"
    rewrite(path, tensors=lambda t: {k: v for k, v in t.items() if k != gone})
    with pytest.raises(ModelLoadError, match=f"missing tensor '{gone}'"):
        load_checkpoint(path, "body")


def test_a_tensor_of_the_wrong_shape_is_named_with_both_shapes(tmp_path):
    path = save_checkpoint(tmp_path / "face.safetensors", tiny_face())
    rewrite(path, tensors=lambda t: {**t, "encoder.audio_proj.weight": torch.zeros(32, 7)})
    with pytest.raises(ModelLoadError, match=r"'encoder.audio_proj.weight' has shape \[32, 7\], the stored config needs \[32, 24\]"):
        load_checkpoint(path, "face")


def test_nan_in_condition_statistics_is_refused_at_load(tmp_path):
    path = save_checkpoint(tmp_path / "body.safetensors", tiny_body())
    name = "lower.encoder.mel_norm.mean"
    rewrite(path, tensors=lambda t: {**t, name: torch.full_like(t[name], float("nan"))})
    with pytest.raises(ModelLoadError, match=f"'{name}' holds NaN"):
        load_checkpoint(path, "body")


def test_unexpected_tensor_wrong_kind_and_foreign_files_are_refused(tmp_path):
    body_path = save_checkpoint(tmp_path / "body.safetensors", tiny_body())
    with pytest.raises(ModelLoadError, match="holds a 'body' checkpoint, expected 'face'"):
        load_checkpoint(body_path, "face")
    rewrite(body_path, tensors=lambda t: {**t, "lower.extra": torch.zeros(1)})
    with pytest.raises(ModelLoadError, match="unexpected tensor 'lower.extra'"):
        load_checkpoint(body_path, "body")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        load_checkpoint(junk, "body")
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(ModelLoadError, match="not a dyad checkpoint"):
        load_checkpoint(plain, "body")
    with pytest.raises(ModelLoadError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.safetensors", "body")


def test_a_stored_config_with_an_unknown_field_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "face.safetensors", tiny_face())
    rewrite(path, metadata=lambda m: {**m, "config": json.dumps({**json.loads(m["config"]), "colour": "blue"})})
    with pytest.raises(ModelLoadError, match="unknown field 'colour'"):
        load_checkpoint(path, "face")


def test_a_body_checkpoint_for_another_skeleton_is_refused(tmp_path):
    other = parse_bvh_hierarchy(SMALL_BVH)
    config = BodyConfig.for_skeleton(other)
    with pytest.raises(ModelLoadError, match=r"another skeleton \(2 joints, the session's has 52"):
        check_skeleton(config, load_default_skeleton(), "body.safetensors")
    in_metres = BodyConfig.for_skeleton(load_default_skeleton())
    in_metres = BodyConfig(**{**in_metres.__dict__, "rest_root_height": 0.95})
    with pytest.raises(ModelLoadError, match="another scale or unit"):
        check_skeleton(in_metres, load_default_skeleton(), "body.safetensors")
    check_skeleton(tiny_body().config, load_default_skeleton(), "body.safetensors")  # its own skeleton passes


def test_denoiser_swap_takes_exactly_the_denoiser_tensors_from_the_lip_file(tmp_path):
    base = tiny_face(seed=1)
    lip = tiny_face(seed=2, wav2vec_dim=WAV2VEC_DIM + 4, speakers=5)  # another encoder: it must not leak in
    with torch.no_grad():
        lip.norm.mean.fill_(0.5)
    base_path = save_checkpoint(tmp_path / "face.safetensors", base)
    lip_path = save_checkpoint(tmp_path / "face_lip.safetensors", lip)
    model, provenance = load_face_swapped(base_path, lip_path)
    assert model.config == base.config
    state, base_state, lip_state = model.state_dict(), base.state_dict(), lip.state_dict()
    from_lip = sorted(name for name, source in provenance.items() if source == str(lip_path))
    assert from_lip == sorted(name for name in base_state if name.startswith("denoiser."))
    assert sorted(provenance) == sorted(base_state)
    for name, value in state.items():
        expected = lip_state[name] if name.startswith("denoiser.") else base_state[name]
        assert torch.equal(value, expected), name
        if name.startswith("denoiser.") and name in base_state and not torch.equal(base_state[name], lip_state[name]):
            assert not torch.equal(value, base_state[name]), name
    assert not torch.equal(state["norm.mean"], lip_state["norm.mean"])  # statistics stay the base's


def test_a_lip_file_with_another_denoiser_shape_cannot_be_swapped_in(tmp_path):
    from dyad.models.model_config import NetSize

    base_path = save_checkpoint(tmp_path / "face.safetensors", tiny_face())
    lip_path = save_checkpoint(tmp_path / "face_lip.safetensors", tiny_face(net=NetSize(width=16, layers=1, heads=2, max_distance=8)))
    with pytest.raises(ModelLoadError, match="'net' differs from the base's"):
        load_face_swapped(base_path, lip_path)


def test_model_folder_modes_and_the_missing_lip_checkpoint(tmp_path):
    folder = tiny_model_dir(tmp_path / "model")
    swapped = load_model_dir(folder)
    assert swapped.face_weights == "swapped" and not swapped.trained
    assert {source for source in swapped.provenance.values()} == {str(folder / "face.safetensors"), str(folder / "face_lip.safetensors")}
    base = load_model_dir(folder, "base")
    assert set(base.provenance.values()) == {str(folder / "face.safetensors")}
    assert set(load_model_dir(folder, "finetuned").provenance.values()) == {str(folder / "face_lip.safetensors")}
    (folder / "face_lip.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="face_lip.safetensors: lip checkpoint not found, needed for face_weights 'swapped'"):
        load_model_dir(folder)
    load_model_dir(folder, "base")  # the base alone still loads
    with pytest.raises(ModelLoadError, match="no model.json"):
        load_model_dir(tmp_path)
