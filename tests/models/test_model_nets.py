"""The body and face networks: shapes, two-person weight sharing, position schemes, conditioning, representation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dyad.models.body_net import BodyModel
from dyad.models.body_repr import BodySplit, decode_body, encode_body
from dyad.models.face_net import FaceModel
from dyad.models.model_config import BodyConfig, FaceConfig, from_dict, tiny_sizes, to_dict
from dyad.models.pose import yaw_of
from dyad.models.rotations import axis_angle_to_matrix
from dyad.models.skeleton import load_default_skeleton
from dyad.models.transformer import RelativePositionBias, alignment_bias, periodic_positional_encoding

SKELETON = load_default_skeleton()
T = 9


@pytest.fixture(scope="module")
def body() -> BodyModel:
    torch.manual_seed(0)
    model = BodyModel(BodyConfig.for_skeleton(SKELETON, word_dim=12, lower_net=tiny_sizes(), upper_net=tiny_sizes())).eval()
    with torch.no_grad():  # random (not zero) position tables, so position actually matters
        for name, p in model.named_parameters():
            if name.endswith(".table"):
                p.normal_()
    return model


@pytest.fixture(scope="module")
def face() -> FaceModel:
    torch.manual_seed(1)
    return FaceModel(FaceConfig(wav2vec_dim=10, speakers=3, net=tiny_sizes(), align_radius=1)).eval()


def body_inputs(model: BodyModel, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    c = model.config
    x = c.split.lower_dim
    return {
        "mel": torch.randn(1, 2, T, c.mel_dim, generator=g),
        "words": torch.randn(1, 2, T, c.word_dim, generator=g),
        "no_text": torch.zeros(1, 2, T),
        "actions": torch.randint(0, 3, (1, 2, T), generator=g),
        "placement": torch.randn(1, 2, 4, generator=g),
        "known": torch.randn(1, 2, T, x, generator=g),
        "mask": (torch.rand(1, 2, T, x, generator=g) > 0.5).float(),
    }


def lower_x0(model: BodyModel, inputs: dict, x_t: torch.Tensor, t: float = 300.0) -> torch.Tensor:
    with torch.no_grad():
        cond, glob = model.lower.encoder(**inputs)
        return model.lower.denoiser(x_t, torch.tensor([t]), cond, glob)


def test_body_nets_give_lower_and_upper_features_for_both_people(body):
    split = body.config.split
    assert (split.lower_dim, split.upper_dim) == (7 + 3 * 8, 3 * 43)
    inputs = body_inputs(body)
    x_t = torch.randn(1, 2, T, split.lower_dim)
    lower = lower_x0(body, inputs, x_t)
    assert lower.shape == (1, 2, T, split.lower_dim)
    with torch.no_grad():
        cond, glob = body.upper.encoder(**{**inputs, "known": torch.zeros(1, 2, T, split.upper_dim), "mask": torch.zeros(1, 2, T, split.upper_dim)}, extra=lower)
        upper = body.upper.denoiser(torch.randn(1, 2, T, split.upper_dim), torch.tensor([10.0]), cond, glob)
    assert upper.shape == (1, 2, T, split.upper_dim) and torch.isfinite(upper).all()


def test_swapping_the_people_swaps_the_outputs_because_weights_are_shared(body):
    inputs = body_inputs(body)
    x_t = torch.randn(1, 2, T, body.config.split.lower_dim)
    out = lower_x0(body, inputs, x_t)
    swapped = lower_x0(body, {k: v[:, [1, 0]] for k, v in inputs.items()}, x_t[:, [1, 0]])
    torch.testing.assert_close(swapped, out[:, [1, 0]], rtol=1e-5, atol=1e-5)


def test_each_person_attends_to_the_partner(body):
    inputs = body_inputs(body)
    x_t = torch.randn(1, 2, T, body.config.split.lower_dim)
    out = lower_x0(body, inputs, x_t)
    louder = dict(inputs, mel=inputs["mel"].clone())
    louder["mel"][:, 1] += 3.0  # only the partner's (person 1) speech changes
    changed = lower_x0(body, louder, x_t)
    assert (changed[:, 0] - out[:, 0]).abs().max() > 1e-4


def test_action_labels_and_placement_condition_the_body(body):
    inputs = body_inputs(body)
    x_t = torch.randn(1, 2, T, body.config.split.lower_dim)
    out = lower_x0(body, inputs, x_t)
    for key, value in (("actions", (inputs["actions"] + 1) % 3), ("placement", inputs["placement"] + 1.0)):
        assert (lower_x0(body, dict(inputs, **{key: value}), x_t) - out).abs().max() > 1e-4, key


def test_relative_position_bias_depends_only_on_the_clipped_offset():
    bias = RelativePositionBias(heads=2, max_distance=3)
    with torch.no_grad():
        bias.table.copy_(torch.arange(14, dtype=torch.float32).reshape(2, 7))
    table = bias(5, 5)
    for i in range(5):
        for j in range(5):
            assert table[1, i, j] == 7 + min(max(j - i, -3), 3) + 3


def test_periodic_positional_encoding_repeats_every_period():
    pe = periodic_positional_encoding(70, 16, period=30)
    torch.testing.assert_close(pe[:40], pe[30:70])
    assert not torch.allclose(pe[0], pe[1])


def test_face_cross_attention_hears_only_audio_within_the_alignment_radius(face):
    assert torch.equal(alignment_bias(4, 4, 1) == 0, torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]]).bool())
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(1, T, 61, generator=g), torch.tensor([500.0]), torch.randn(1, T, 32, generator=g),
            torch.randn(1, T, 32, generator=g), torch.randn(1, 32, generator=g)]  # fmt: skip
    with torch.no_grad():
        out = face.denoiser(*args)
        far = [a.clone() for a in args]
        far[2][:, 6:] += 3.0 * torch.randn(1, T - 6, 32, generator=g)  # audio of frames 6..: frames <= 4 must not hear it
        changed = face.denoiser(*far)
    torch.testing.assert_close(changed[:, :5], out[:, :5], rtol=0, atol=1e-6)
    assert (changed[:, 6:] - out[:, 6:]).abs().max() > 1e-4


def test_face_model_conditions_on_partner_audio_speaker_and_facing(face):
    g = torch.Generator().manual_seed(2)
    own, partner = torch.randn(2, T, 10, generator=g), torch.randn(2, T, 10, generator=g)
    speaker = torch.eye(3)[[0, 1]]
    facing = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    known, mask = torch.zeros(2, T, 61), torch.zeros(2, T, 61)
    x_t = torch.randn(2, T, 61, generator=g)

    def run(**changes):
        kw = dict(own=own, partner=partner, speaker=speaker, facing=facing, known=known, mask=mask) | changes
        with torch.no_grad():
            return face.denoiser(x_t, torch.tensor([200.0, 200.0]), *face.encoder(**kw))

    base = run()
    assert base.shape == (2, T, 61)
    for change in ({"partner": partner + 1.0}, {"speaker": torch.eye(3)[[2, 2]]}, {"facing": facing.flip(-1)}):
        assert (run(**change) - base).abs().max() > 1e-4, change


def test_configs_survive_a_json_round_trip_and_name_bad_fields():
    config = BodyConfig.for_skeleton(SKELETON, lower_net=tiny_sizes())
    assert from_dict(BodyConfig, to_dict(config)) == config
    assert from_dict(FaceConfig, to_dict(FaceConfig())) == FaceConfig()
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        from_dict(FaceConfig, {**to_dict(FaceConfig()), "colour": 1})
    with pytest.raises(ValueError, match="missing field 'joint_names'"):
        from_dict(BodyConfig, {})


def test_body_representation_round_trips_poses_exactly():
    split = BodySplit.default(SKELETON)
    rng = np.random.default_rng(0)
    rotations = rng.normal(0, 0.3, (2, 20, SKELETON.num_joints, 3))
    rotations[..., 0, 1] += np.linspace(0, 7, 20)  # the heading turns past pi
    positions = rng.normal(0, 50, (2, 20, 3))
    lower, upper = encode_body(SKELETON, split, positions, rotations)
    assert lower.shape == (2, 20, split.lower_dim) and upper.shape == (2, 20, split.upper_dim)
    back_positions, back_rotations = decode_body(SKELETON, split, lower, upper, positions[:, 0, [0, 2]], yaw_of(rotations[:, 0, 0]))
    np.testing.assert_allclose(back_positions, positions, atol=1e-9)
    np.testing.assert_allclose(axis_angle_to_matrix(back_rotations), axis_angle_to_matrix(rotations), atol=1e-9)


def test_a_body_split_must_cover_every_joint_once():
    split = BodySplit.default(SKELETON)
    split.check(SKELETON)
    with pytest.raises(ValueError, match="leaves out joint 'Spine'"):
        BodySplit(split.lower, split.upper[1:]).check(SKELETON)
    with pytest.raises(ValueError, match="twice"):
        BodySplit(split.lower + ("Spine",), split.upper).check(SKELETON)
    with pytest.raises(ValueError, match="root"):
        BodySplit(("Hips",) + split.lower, split.upper).check(SKELETON)
