"""A model folder: body and face checkpoints, a manifest, and their ONNX exports.

    DIR/model.json           {"format": "dyad.model", "version": 1, "body": "body.safetensors",
                              "face": "face.safetensors", "face_lip": "face_lip.safetensors" | null,
                              "face_weights": "base" | "swapped" | "finetuned", "trained": bool, "note": ...}
    DIR/body.safetensors     lower + upper body nets (config inside)
    DIR/face.safetensors     base face model
    DIR/face_lip.safetensors lip-accurate fine-tune (needed for "swapped" and "finetuned")
    DIR/onnx/{lower,upper,face}.onnx, DIR/onnx/export.json  (written by `export_model_dir`)

`face_weights`: "base" uses the base face model, "finetuned" the lip file whole,
"swapped" the base with the lip file's denoiser (InterAct's choice). export.json
records the sha256 of the checkpoints it was made from and the face weights, so a
stale export is refused instead of silently running old weights.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dyad.models.body_net import BodyModel
from dyad.models.checkpoint import ModelLoadError, load_checkpoint, load_face_swapped, save_checkpoint
from dyad.models.export import OnnxDenoiser, check_parity, export_denoiser
from dyad.models.face_net import FaceModel
from dyad.models.model_config import BodyConfig, FaceConfig, tiny_sizes
from dyad.models.skeleton import Skeleton

MANIFEST = "model.json"
FORMAT = "dyad.model"
FACE_WEIGHTS = ("base", "swapped", "finetuned")
ONNX_DIR = "onnx"
ONNX_NAMES = ("lower", "upper", "face")
UNTRAINED_NOTE = (
    "untrained: random weights written by `dyad model init` to exercise the learned path end to end "
    "(loading, sampling, ONNX, the live session); its motion is meaningless until trained weights replace it"
)


@dataclass
class LoadedModels:
    body: BodyModel
    face: FaceModel
    face_weights: str
    trained: bool
    folder: Path
    provenance: dict[str, str] = field(default_factory=dict)  # face tensor -> file it came from


def read_manifest(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelLoadError(f"model folder not found: {folder}")
    if not path.is_file():
        raise ModelLoadError(f"{folder}: no {MANIFEST} (write an untrained model with `dyad model init --out {folder}`)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path}: cannot read ({error})") from None
    except RecursionError:  # JSON nested deeper than the parser's stack
        raise ModelLoadError(f"{path}: cannot read (nested too deeply to be a model manifest)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelLoadError(f"{path}: not a dyad model manifest (format must be {FORMAT!r})")
    for key in ("body", "face"):
        if not isinstance(manifest.get(key), str):
            raise ModelLoadError(f"{path}: field {key!r} must name a checkpoint file")
    return manifest


def _face_weights(manifest: dict, override: str | None, path: Path) -> str:
    choice = override or manifest.get("face_weights", "base")
    if choice not in FACE_WEIGHTS:
        raise ModelLoadError(f"{path}: face_weights {choice!r} is not one of {', '.join(FACE_WEIGHTS)}")
    return choice


def _lip_path(folder: Path, manifest: dict, face_weights: str) -> Path:
    name = manifest.get("face_lip")
    if not name:
        raise ModelLoadError(f"{folder / MANIFEST}: face_weights {face_weights!r} needs a lip checkpoint, the manifest names none ('face_lip')")
    path = folder / name
    if not path.is_file():
        raise ModelLoadError(f"{path}: lip checkpoint not found, needed for face_weights {face_weights!r}")
    return path


def load_model_dir(folder: str | Path, face_weights: str | None = None) -> LoadedModels:
    """Both models in eval mode, on the CPU; every problem is a ModelLoadError naming the file."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    choice = _face_weights(manifest, face_weights, folder / MANIFEST)
    lip = _lip_path(folder, manifest, choice) if choice != "base" else None  # checked before any heavy loading
    body, body_meta = load_checkpoint(folder / manifest["body"], "body")
    if choice == "swapped":
        face, provenance = load_face_swapped(folder / manifest["face"], lip)
        face_meta = {"trained": "true" if manifest.get("trained") else "false"}
    else:
        path = folder / manifest["face"] if choice == "base" else lip
        face, face_meta = load_checkpoint(path, "face")
        provenance = {name: str(path) for name in face.state_dict()}
    trained = body_meta.get("trained") == "true" and face_meta.get("trained") == "true" and bool(manifest.get("trained", True))
    return LoadedModels(body, face, choice, trained, folder, provenance)


def init_model_dir(
    folder: str | Path, skeleton: Skeleton, tiny: bool = False, seed: int = 0, word_dim: int = 384, wav2vec_dim: int = 768
) -> Path:
    """Write an untrained model folder: random weights, prior statistics, a manifest (no ONNX yet)."""
    folder = Path(folder)
    torch.manual_seed(seed)
    sizes = {"lower_net": tiny_sizes(), "upper_net": tiny_sizes()} if tiny else {}
    body = BodyModel(BodyConfig.for_skeleton(skeleton, word_dim=word_dim, **sizes))
    face_config = FaceConfig(wav2vec_dim=wav2vec_dim, **({"net": tiny_sizes()} if tiny else {}))
    face, lip = FaceModel(face_config), FaceModel(face_config)  # two draws: the swap visibly mixes two files
    for model in (body, face, lip):
        model.set_prior_statistics()
    save_checkpoint(folder / "body.safetensors", body, trained=False)
    save_checkpoint(folder / "face.safetensors", face, trained=False)
    save_checkpoint(folder / "face_lip.safetensors", lip, trained=False)
    manifest = {
        "format": FORMAT,
        "version": 1,
        "body": "body.safetensors",
        "face": "face.safetensors",
        "face_lip": "face_lip.safetensors",
        "face_weights": "swapped",
        "trained": False,
        "note": UNTRAINED_NOTE,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sources(folder: Path, manifest: dict, face_weights: str) -> dict[str, str]:
    names = [manifest["body"], manifest["face"]] + ([manifest["face_lip"]] if face_weights != "base" else [])
    return {name: _sha256(folder / name) for name in names}


def export_model_dir(folder: str | Path, face_weights: str | None = None) -> dict:
    """Export the three denoisers to DIR/onnx, check each against torch, write export.json; returns it."""
    models = load_model_dir(folder, face_weights)
    modules = {"lower": models.body.lower.denoiser, "upper": models.body.upper.denoiser, "face": models.face.denoiser}
    out = models.folder / ONNX_DIR
    parity = {}
    for name, module in modules.items():
        path = export_denoiser(module, out / f"{name}.onnx")
        try:
            parity[name] = check_parity(module, path)
        except ValueError as error:
            raise ModelLoadError(str(error)) from None
    report = {
        "face_weights": models.face_weights,
        "sources": _sources(models.folder, read_manifest(models.folder), models.face_weights),
        "parity": parity,
    }
    (out / "export.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def onnx_denoisers(models: LoadedModels, device: str, threads: int = 1, device_id: int = 0) -> dict[str, OnnxDenoiser]:
    """ONNX Runtime denoisers for loaded models; refused if the export is missing or stale."""
    folder = models.folder
    export_json = folder / ONNX_DIR / "export.json"
    hint = f"run `dyad model export --model {folder}`"
    if not export_json.is_file():
        raise ModelLoadError(f"{folder}: no ONNX export ({export_json} missing): {hint}")
    try:
        report = json.loads(export_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelLoadError(f"{export_json}: cannot read ({type(error).__name__}): {hint}") from None
    if not isinstance(report, dict):
        raise ModelLoadError(f"{export_json}: not an export report: {hint}")
    current = _sources(folder, read_manifest(folder), models.face_weights)
    if report.get("face_weights") != models.face_weights or report.get("sources") != current:
        raise ModelLoadError(f"{folder}: the ONNX export was made from other weights (face {report.get('face_weights')!r}): {hint}")
    denoisers = {}
    for name in ONNX_NAMES:
        try:
            denoisers[name] = OnnxDenoiser(folder / ONNX_DIR / f"{name}.onnx", device, threads, device_id)
        except ValueError as error:
            raise ModelLoadError(str(error)) from None
        except Exception as error:  # onnxruntime raises its own types for unreadable graphs
            raise ModelLoadError(f"{folder / ONNX_DIR / name}.onnx: {str(error).splitlines()[0]}") from None
    return denoisers
