"""Checkpoints: one safetensors file per model, with its config stored inside (metadata).

Metadata keys: `format` = "dyad.checkpoint", `version`, `kind` ("body" | "face"),
`config` (the model config as JSON), `trained` ("true" | "false": an untrained
checkpoint written by `dyad model init` says so). Loading rebuilds the network from
the stored config, then checks the tensors one by one, so every failure names the
file and the tensor: missing, unexpected, wrong shape, not floating point, NaN/inf.

Denoiser swap (InterAct): a face model trained on everything (base) and fine-tuned
on lip-accurate data (lip) share their architecture; `load_face_swapped` keeps the
base's encoder (audio projection, style and context projections) and normalisation,
and takes exactly the tensors under `denoiser.` from the lip file.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from dyad.models.body_net import BodyModel
from dyad.models.face_net import DENOISER_PREFIX, FaceModel
from dyad.models.model_config import BodyConfig, FaceConfig, from_dict, to_dict
from dyad.models.skeleton import Skeleton

FORMAT = "dyad.checkpoint"
VERSION = "1"
KINDS = {"body": (BodyConfig, BodyModel), "face": (FaceConfig, FaceModel)}
# Face config fields the denoiser's weights depend on: base and lip files must agree on them.
DENOISER_FIELDS = ("net", "period", "align_radius", "face_names", "diffusion")


class ModelLoadError(ValueError):
    """A checkpoint that cannot serve this session (one-line message naming file and tensor or field)."""


def save_checkpoint(path: str | Path, model: BodyModel | FaceModel, trained: bool = True) -> Path:
    path = Path(path)
    kind = "body" if isinstance(model, BodyModel) else "face"
    tensors = {name: value.detach().to("cpu", torch.float32).contiguous() for name, value in model.state_dict().items()}
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": json.dumps(to_dict(model.config)),
        "trained": "true" if trained else "false",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_checkpoint(path: str | Path, kind: str) -> tuple[BodyConfig | FaceConfig, dict[str, torch.Tensor], dict[str, str]]:
    """(config, tensors, metadata) of a `kind` checkpoint, without building the network."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{kind} checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelLoadError(f"{path}: not a readable safetensors file ({str(error).splitlines()[0]})") from None
    if metadata.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a dyad checkpoint (metadata 'format' is {metadata.get('format')!r}, expected {FORMAT!r})")
    if metadata.get("kind") != kind:
        raise ModelLoadError(f"{path}: holds a {metadata.get('kind')!r} checkpoint, expected {kind!r}")
    try:
        config = from_dict(KINDS[kind][0], json.loads(metadata.get("config", "")), "config")
        config.check()
    except (ValueError, TypeError) as error:
        raise ModelLoadError(f"{path}: stored {kind} config is invalid: {error}") from None
    return config, tensors, metadata


def _check_tensors(path: Path | str, expected: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor]) -> None:
    missing = [name for name in expected if name not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"{path}: missing tensor {missing[0]!r}{more}")
    unexpected = [name for name in tensors if name not in expected]
    if unexpected:
        raise ModelLoadError(f"{path}: unexpected tensor {unexpected[0]!r}: not part of a model with the stored config")
    for name, reference in expected.items():
        value = tensors[name]
        if tuple(value.shape) != tuple(reference.shape):
            raise ModelLoadError(f"{path}: tensor {name!r} has shape {list(value.shape)}, the stored config needs {list(reference.shape)}")
        if not value.is_floating_point():
            raise ModelLoadError(f"{path}: tensor {name!r} is {value.dtype}, expected floating point")
        if not torch.isfinite(value).all():
            raise ModelLoadError(f"{path}: tensor {name!r} holds NaN or infinite values")


def build_model(kind: str, config: BodyConfig | FaceConfig, tensors: dict[str, torch.Tensor], source: str | Path) -> BodyModel | FaceModel:
    model = KINDS[kind][1](config)
    _check_tensors(source, model.state_dict(), tensors)
    model.load_state_dict({name: value.float() for name, value in tensors.items()}, strict=True)
    return model.eval()


def load_checkpoint(path: str | Path, kind: str) -> tuple[BodyModel | FaceModel, dict[str, str]]:
    """(model in eval mode, metadata)."""
    config, tensors, metadata = read_checkpoint(path, kind)
    return build_model(kind, config, tensors, path), metadata


def load_face_swapped(base_path: str | Path, lip_path: str | Path) -> tuple[FaceModel, dict[str, str]]:
    """The base face model with its denoiser weights replaced by the lip fine-tune's.

    Returns (model, provenance): for every tensor of the model, the path of the file it came from."""
    base_config, base, _ = read_checkpoint(base_path, "face")
    lip_config, lip, _ = read_checkpoint(lip_path, "face")
    for name in DENOISER_FIELDS:
        if getattr(base_config, name) != getattr(lip_config, name):
            raise ModelLoadError(f"{lip_path}: lip checkpoint's '{name}' differs from the base's ({base_path}): its denoiser cannot be swapped in")
    swapped = {name: value for name, value in lip.items() if name.startswith(DENOISER_PREFIX)}
    needed = [name for name in base if name.startswith(DENOISER_PREFIX)]
    absent = [name for name in needed if name not in swapped]
    if absent:
        raise ModelLoadError(f"{lip_path}: missing tensor {absent[0]!r} of the denoiser to swap in")
    merged = {**base, **swapped}
    provenance = {name: str(lip_path if name in swapped else base_path) for name in merged}
    return build_model("face", base_config, merged, f"{base_path} + denoiser of {lip_path}"), provenance


def check_skeleton(config: BodyConfig, skeleton: Skeleton, source: str | Path) -> None:
    """A body checkpoint serves only the skeleton it was trained on (same joints, parents, scale)."""
    names, parents = tuple(config.joint_names), tuple(config.parents)
    if names != skeleton.joint_names or parents != skeleton.parents:
        first = next((i for i, pair in enumerate(zip(names, skeleton.joint_names)) if pair[0] != pair[1]), min(len(names), skeleton.num_joints))
        theirs = names[first] if first < len(names) else "<end>"
        ours = skeleton.joint_names[first] if first < skeleton.num_joints else "<end>"
        detail = f"joint {first} is {theirs!r} there, {ours!r} here" if theirs != ours else "the parents differ"
        raise ModelLoadError(
            f"{source}: body checkpoint is for another skeleton ({len(names)} joints, the session's has {skeleton.num_joints}; {detail})"
        )
    ratio = skeleton.rest_root_height / max(config.rest_root_height, 1e-9)
    if not 0.8 <= ratio <= 1.25:
        raise ModelLoadError(
            f"{source}: body checkpoint's skeleton stands {config.rest_root_height:g} units tall at the root, "
            f"the session's {skeleton.rest_root_height:g}: another scale or unit"
        )
    try:
        config.split.check(skeleton)
    except ValueError as error:
        raise ModelLoadError(f"{source}: {error}") from None
