"""The learned-model part of the `dyad` command: `--model` and friends on run/demo, and `dyad model ...`.

    dyad model init --out DIR [--tiny]    write an UNTRAINED model folder (random weights) + ONNX exports
    dyad model export --model DIR         (re)export the denoisers to DIR/onnx and check them against torch
    dyad run ... --model DIR --steps 4 --backend onnx --device cpu

An untrained folder exists so the learned path (loading, checks, sampling, ONNX
Runtime, the live session, step adaptation) can be run end to end before trained
weights exist; its motion is random. Without `--model` the bundled default model
runs (`models/assets/default_model`, see its MODEL_CARD.md); `--model procedural`
runs the rule-based animator alone.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.models.bundled import DEFAULT_MODEL_DIR
from dyad.runtime.animate.learned_config import BACKENDS, FACE_WEIGHTS, MAX_STEPS, LearnedConfig


PROCEDURAL = "procedural"  # `--model procedural`: the rule-based animator alone
log = logging.getLogger("dyad.model")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    defaults = LearnedConfig(Path("."))
    group = parser.add_argument_group("learned animator", "body + face diffusion models; without --model the bundled default model runs")
    group.add_argument("--model", type=Path, metavar="DIR", default=None,
                       help="model folder (model.json, body/face checkpoints), or 'procedural' (default: the bundled model, see its MODEL_CARD.md)")  # fmt: skip
    group.add_argument("--steps", type=int, default=defaults.steps, help=f"DDIM steps per window, 1..{MAX_STEPS} (fewer when compute nears the budget)")
    group.add_argument("--backend", choices=BACKENDS, default=None,
                       help="run the denoisers in torch or ONNX Runtime (default: onnx when DIR/onnx holds an export, else torch)")  # fmt: skip
    group.add_argument("--face-weights", choices=FACE_WEIGHTS, default=None, help="face model weights (default: model.json's choice)")
    group.add_argument("--tensorrt", action="store_true", help="with --backend onnx --device cuda: TensorRT provider first")
    group.add_argument("--fixed-steps", action="store_true", help="never lower --steps, even when compute nears the budget")
    group.add_argument("--face-animator", choices=("learned", "procedural"), default=None,
                       help="what drives the face (default: the model folder's choice, from the real-voice evaluation)")  # fmt: skip
    group.add_argument("--body-animator", choices=("learned", "procedural"), default=None,
                       help="what drives the body (default: the model folder's choice, from the real-voice evaluation)")  # fmt: skip


def learned_config_from_args(args: argparse.Namespace, session: SessionConfig):
    """The LearnedConfig the flags ask for, or None for the procedural animator."""
    model = getattr(args, "model", None)
    if str(model) == PROCEDURAL:
        return None
    folder = DEFAULT_MODEL_DIR if model is None else Path(model)
    return LearnedConfig(
        model_dir=folder,
        steps=args.steps,
        backend=args.backend or auto_backend(folder),
        device=session.speech.device,  # one --device for every learned model of the session
        tensorrt=args.tensorrt,
        face_weights=args.face_weights,
        adapt=not args.fixed_steps,
    ).validate()


def auto_backend(model_dir: Path) -> str:
    """ONNX Runtime where the folder holds an export: on a CPU it runs the small denoisers several
    times faster than torch eager (see the backends benchmark); torch otherwise."""
    return "onnx" if (Path(model_dir) / "onnx" / "export.json").is_file() else "torch"


def build_animator(args: argparse.Namespace, session: SessionConfig):
    """Load and warm up the learned animator (DyadError on any problem), or None for the procedural
    animator alone (`--model procedural`, or a folder whose parts are all procedural)."""
    config = learned_config_from_args(args, session)
    if config is None:
        return None
    from dyad.runtime.animate.partwise import resolve_parts

    parts, why = resolve_parts(config.model_dir, getattr(args, "face_animator", None), getattr(args, "body_animator", None))
    if set(parts.values()) == {"procedural"}:
        # The designed default, not a fault: said at INFO (--log-level INFO); the README and model card say it too.
        log.info("face and body run the procedural animator (%s); --face-animator/--body-animator learned runs %s", why or "model.json", config.model_dir)
        return None
    from dyad.models.skeleton import load_default_skeleton
    from dyad.runtime.animate.learned_animator import load_learned_animator

    skeleton = load_default_skeleton()
    animator = load_learned_animator(config, session, skeleton)
    if "procedural" not in parts.values():
        return animator
    from dyad.runtime.animate.partwise import PartwiseAnimator
    from dyad.runtime.animate.procedural import ProceduralAnimator

    log.info("face: %s, body: %s (%s)", parts["face"], parts["body"], why or "model.json")
    return PartwiseAnimator(animator, ProceduralAnimator(skeleton, fps=session.timing.fps, seed=session.seed), parts["face"], parts["body"])


def register(commands) -> None:
    model = commands.add_parser("model", help="write (untrained) or export learned model folders")
    actions = model.add_subparsers(dest="model_command", required=True)
    init = actions.add_parser("init", help="write an UNTRAINED model folder (random weights) to exercise the learned path")
    init.add_argument("--out", type=Path, required=True, metavar="DIR")
    init.add_argument("--tiny", action="store_true", help="tiny networks (tests, quick checks)")
    init.add_argument("--seed", type=int, default=0)
    init.add_argument("--word-dim", type=int, default=384, help="BERT feature size the body model takes (384: packaged MiniLM)")
    init.add_argument("--wav2vec-dim", type=int, default=768, help="Wav2Vec2 feature size the face model takes (768: base)")
    init.add_argument("--no-export", action="store_true", help="skip the ONNX export")
    export = actions.add_parser("export", help="export the denoisers to DIR/onnx and check them against torch")
    export.add_argument("--model", type=Path, required=True, metavar="DIR")
    export.add_argument("--face-weights", choices=FACE_WEIGHTS, default=None)
    reference = actions.add_parser("mel-reference", help="write DIR/mel_reference.json: the training corpus's speech log-mel statistics (per-person normalisation)")
    reference.add_argument("--model", type=Path, required=True, metavar="DIR")
    reference.add_argument("--data", type=Path, required=True, metavar="DIR", help="the corpus the model was trained on (InterAct layout)")
    reference.add_argument("--takes", type=int, default=None, help="only the first N takes (speech statistics settle within minutes of audio)")
    model.set_defaults(handler=run_model_command)


def _export(folder: Path, face_weights: str | None) -> dict:
    from dyad.models.checkpoint import ModelLoadError
    from dyad.models.model_dir import export_model_dir

    try:
        return export_model_dir(folder, face_weights)
    except ModelLoadError as error:
        raise DyadError(str(error)) from None


def _refuse_trained_reference(folder: Path) -> None:
    """A model trained on normalised mel learned with the reference its training wrote: a new one would
    feed it other inputs than it learned from."""
    from dyad.models.checkpoint import ModelLoadError, read_checkpoint

    for kind in ("body", "face"):
        path = folder / f"{kind}.safetensors"
        try:
            normalized = path.is_file() and read_checkpoint(path, kind)[0].mel_normalized
        except ModelLoadError:
            continue
        if normalized:
            raise DyadError(f"{path} was trained on log-mel normalised to {folder / 'mel_reference.json'}: that reference is part of the model and is not rewritten")


def _write_mel_reference(folder: Path, data: Path, takes: int | None = None) -> int:
    import numpy as np
    from tqdm import tqdm

    from dyad.models.interact import DatasetError, load_interact
    from dyad.runtime.animate.mel_normalizer import REFERENCE_FILE, reference_from_features
    from dyad.runtime.offline.train_data import take_features

    if not (folder / "model.json").is_file():
        raise DyadError(f"--model {folder}: no model.json")
    _refuse_trained_reference(folder)
    try:
        dataset = load_interact(data)
    except DatasetError as error:
        raise DyadError(str(error)) from None
    if takes is not None and takes < 1:
        raise DyadError("--takes must be >= 1")
    selected = dataset.takes[:takes]
    mel, vad, rms = [], [], []
    for take in tqdm(selected, desc="mel-reference", unit="take"):
        f = take_features(take, data / "features", words=False)  # the live session's own features, cached
        mel.append(f["mel"].reshape(-1, f["mel"].shape[-1]))
        vad.append(f["vad"].reshape(-1))
        rms.append(f["rms_db"].reshape(-1))
    reference = reference_from_features(np.concatenate(mel), np.concatenate(vad), np.concatenate(rms))
    (folder / REFERENCE_FILE).write_text(reference.to_json(f"speech frames of {data.name} ({len(selected)} takes)"), encoding="utf-8")
    print(f"dyad: wrote {folder / REFERENCE_FILE} ({reference.frames} speech frames)")
    return 0


def run_model_command(args: argparse.Namespace) -> int:
    from dyad.models.model_dir import UNTRAINED_NOTE, init_model_dir
    from dyad.models.skeleton import load_default_skeleton

    if args.model_command == "mel-reference":
        return _write_mel_reference(args.model, args.data, args.takes)
    if args.model_command == "init":
        if args.word_dim < 1 or args.wav2vec_dim < 1:
            raise DyadError("--word-dim and --wav2vec-dim must be positive")
        if args.out.exists() and any(args.out.iterdir()):
            raise DyadError(f"--out {args.out} exists and is not empty")
        init_model_dir(args.out, load_default_skeleton(), tiny=args.tiny, seed=args.seed, word_dim=args.word_dim, wav2vec_dim=args.wav2vec_dim)
        print(f"dyad: wrote {args.out} ({UNTRAINED_NOTE})")
        if args.no_export:
            return 0
        folder, face_weights = args.out, None
    else:
        folder, face_weights = args.model, args.face_weights
    report = _export(folder, face_weights)
    errors = {name: f"{p['max_abs_error']:.2e}" for name, p in report["parity"].items()}
    print(f"dyad: exported {', '.join(errors)} to {folder / 'onnx'}; largest |onnx - torch|: {json.dumps(errors)}")
    return 0
