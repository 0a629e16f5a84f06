"""`dyad train body|face|face-lip`: the training half of the command line (with `dyad corpus` and `dyad eval`).

    dyad corpus --minutes 15 --out data/synth            synthetic dialogues, InterAct layout
    dyad train body --data data/synth --out models/mine  resumes from models/mine/training/ if a run is there
    dyad train face --data data/synth --out models/mine
    dyad train face-lip --data data/synth --out models/mine   fine-tunes face.safetensors' denoiser on DIR/lip_acc/
    dyad data check ~/InterAct --face-columns cols.txt   what a dataset folder holds and what training will use
    dyad model export --model models/mine                ONNX for the live session

The model folder's manifest is (re)written after every run: it names the files
present and picks `face_weights: swapped` once a lip fine-tune exists.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dyad.runtime.errors import DyadError

SIZES = {"small": (64, 3), "default": (128, 4)}  # width, layers


def register(commands) -> None:
    from dyad.runtime.cli.data import add_dataset_options

    train = commands.add_parser("train", help="train the body, face or lip face model on an InterAct-layout dataset")
    train.add_argument("kind", choices=("body", "face", "face-lip"))
    train.add_argument("--data", type=Path, required=True, metavar="DIR", help="InterAct or Inter-X folder, or `dyad corpus` output (face-lip reads DIR/lip_acc/)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="model folder to write (model.json + checkpoints)")
    train.add_argument("--steps", type=int, default=3000)
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--window", type=int, default=10, help="frames per training window (10: the live session's 8 context + 2 new)")
    train.add_argument("--lr", type=float, default=None, help="default 1e-3 (face-lip 3e-4)")
    train.add_argument("--size", choices=sorted(SIZES), default="small", help="network size (small: real time on a 2-core CPU)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: fastest on a busy 2-core machine)")
    train.add_argument("--restart", action="store_true", help="ignore a saved training state and start over")
    train.add_argument("--val-takes", type=int, default=2, help="sequences held out for the validation curve")
    train.add_argument(
        "--word-timing", choices=("exact", "sphinx"), default="exact",
        help="words of the training features: exact (the transcript, on the frames each word spans) or sphinx "
        "(the live recogniser over the take's audio, each word from the time it is committed, as live)",
    )  # fmt: skip
    train.add_argument("--mel-norm", choices=("person", "none"), default="person",
                       help="person (default): train on per-person running-normalised log-mel, exactly as the live animator maps it "
                            "(OUT/mel_reference.json, written by the first run); none: raw log-mel (face-lip follows its base model)")
    train.add_argument("--no-energy-cue", action="store_true", help="face: no explicit loudness channels in the audio input")
    add_dataset_options(train)
    train.set_defaults(handler=run_train)


def _load(args: argparse.Namespace):
    from dyad.runtime.offline.datasets import load_dataset

    return load_dataset(args, args.data)


def _sequences(args: argparse.Namespace, dataset, split):
    from tqdm import tqdm

    from dyad.models.interact import DatasetError
    from dyad.runtime.offline.train_data import build_sequences

    try:
        with tqdm(total=len(dataset.takes), desc="features", unit="take") as bar:
            sequences, report = build_sequences(dataset, split, args.data / "features", max_mismatch_s=args.max_mismatch_s,
                                                progress=lambda done, _: bar.update(done - bar.n),
                                                word_timing=getattr(args, "word_timing", "exact"))  # fmt: skip
    except DatasetError as error:
        raise DyadError(f"{error} (training not started)") from None
    for line in report:
        print(f"dyad: data: {line}")
    if len(sequences) <= args.val_takes:
        raise DyadError(f"{args.data}: {len(sequences)} sequences, need more than --val-takes {args.val_takes}")
    return dataset, sequences[: -args.val_takes], sequences[-args.val_takes :]


def _model(args: argparse.Namespace, dataset):
    from dyad.models.checkpoint import ModelLoadError, load_checkpoint
    from dyad.models.model_config import BodyConfig, FaceConfig, NetSize

    width, layers = SIZES[args.size]
    size = NetSize(width=width, layers=layers, heads=4, ff_mult=2, max_distance=32)
    if args.kind == "body":
        from dyad.models.body_net import BodyModel

        return BodyModel(BodyConfig.for_skeleton(dataset.skeleton, lower_net=size, upper_net=size, mel_normalized=args.mel_norm == "person"))
    if args.kind == "face":
        from dyad.models.face_net import FaceModel

        return FaceModel(FaceConfig(wav2vec_dim=80, audio_input="mel", net=size, mel_normalized=args.mel_norm == "person",
                                    energy_cue=not args.no_energy_cue))  # fmt: skip
    try:
        model, _ = load_checkpoint(args.out / "face.safetensors", "face")  # the lip fine-tune starts from the base
    except ModelLoadError as error:
        raise DyadError(f"{error} (train `face` first)") from None
    return model


def _reference_possible(folder: Path, train) -> bool:
    from dyad.runtime.animate.mel_normalizer import REFERENCE_FILE, SPEECH_DB, SPEECH_VAD

    if (folder / REFERENCE_FILE).is_file():
        return True
    chosen = [s for s in train if s.vad is not None][:12]
    return sum(int(((s.vad > SPEECH_VAD) & (s.rms_db > SPEECH_DB)).sum()) for s in chosen) >= 100


def _normalized(folder: Path, train, val, fps: int):
    """Train and validation sequences with their mel mapped per person as live; the reference is the
    folder's mel_reference.json, written from the training sequences by the first run that needs it."""
    from dyad.models.interact import DatasetError
    from dyad.runtime.animate.mel_normalizer import REFERENCE_FILE, load_reference
    from dyad.runtime.offline.train_data import normalize_sequences, sequences_reference

    try:
        reference = load_reference(folder)
        if reference is None:
            reference = sequences_reference(train)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / REFERENCE_FILE).write_text(reference.to_json(f"speech frames of the first 12 training sequences ({train[0].name}...)"), encoding="utf-8")
            print(f"dyad: wrote {folder / REFERENCE_FILE} ({reference.frames} speech frames): the per-person mel normalisation's target")
        return normalize_sequences(train, reference, fps), normalize_sequences(val, reference, fps)
    except DatasetError as error:
        raise DyadError(f"{error} (training not started)") from None


def run_train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from dyad.models.body_repr import BodySplit
    from dyad.models.train import Trainer, TrainConfig, set_statistics

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise DyadError(f"--device {args.device}: torch sees no CUDA device here")
    torch.manual_seed(args.seed)
    from dyad.runtime.offline.datasets import data_format, lip_split, require_faces, require_leg_joints

    if data_format(args, args.data) == "interx" and args.kind != "body":
        raise DyadError("Inter-X has no audio or face: it trains the body model only")
    if args.kind == "face-lip":  # InterAct's lip_acc/ set, not the main takes
        dataset, (train, val) = None, lip_split(args)
    else:
        try:
            dataset = _load(args)
        except ValueError as error:
            raise DyadError(f"{error} (training not started)") from None
        require_faces(args.kind, args.data, dataset.takes)
        require_leg_joints(args.kind, args.data, dataset.skeleton)
        dataset, train, val = _sequences(args, dataset, BodySplit.default(dataset.skeleton))
    if args.kind != "face-lip" and args.mel_norm == "person" and not _reference_possible(args.out, train):
        print("dyad: data: fewer than 100 speech frames in the first 12 training sequences: too few for per-person mel "
              "statistics; training on raw log-mel (as --mel-norm none)")  # fmt: skip
        args.mel_norm = "none"
    model = _model(args, dataset)
    if model.config.mel_normalized:
        train, val = _normalized(args.out, train, val, model.config.fps)
    if args.kind != "face-lip":
        set_statistics(model, train)
    lr = args.lr or (3e-4 if args.kind == "face-lip" else 1e-3)
    config = TrainConfig(args.kind, steps=args.steps, batch=args.batch, window=args.window, lr=lr, seed=args.seed)
    try:
        trainer = Trainer(model, args.kind, train, val, config, args.out / "training", args.device)
        if not args.restart and trainer.resume():
            print(f"dyad: resuming {args.kind} at step {trainer.step} from {trainer.state_path}")
    except ValueError as error:
        raise DyadError(str(error)) from None
    with tqdm(total=args.steps, initial=trainer.step, desc=f"train {args.kind}", unit="step") as bar:
        def progress(step: int, loss: float) -> None:
            bar.update(step - bar.n)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss:.4f}", val=f"{trainer.history['val'][-1]:.4f}" if trainer.history["val"] else "-")

        history = trainer.run(progress)
    name = {"body": "body.safetensors", "face": "face.safetensors", "face-lip": "face_lip.safetensors"}[args.kind]
    trainer.finish(args.out / name)
    write_manifest(args.out, f"dyad train {args.kind} --data {args.data} --steps {args.steps} --size {args.size} --seed {args.seed}")
    print(f"dyad: {args.kind}: validation loss {history['val'][0]:.4f} -> {history['val'][-1]:.4f}; wrote {args.out / name} "
          f"and {args.out / 'training' / (args.kind + '_loss.png')}")  # fmt: skip
    return 0


def write_manifest(folder: Path, command: str) -> None:
    path = folder / "model.json"
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    lip = (folder / "face_lip.safetensors").is_file()
    commands = manifest.get("commands", [])
    manifest.update({
        "format": "dyad.model", "version": 1, "body": "body.safetensors", "face": "face.safetensors",
        "face_lip": "face_lip.safetensors" if lip else None, "face_weights": "swapped" if lip else "base",
        "trained": True, "commands": [c for c in commands if c.split(" --")[0] != command.split(" --")[0]] + [command],
        "note": "trained by `dyad train`; see MODEL_CARD.md when present",
    })  # fmt: skip
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
