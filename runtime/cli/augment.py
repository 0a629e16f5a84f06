"""`dyad augment`: a copy of a corpus whose audio changes as real microphones change voices.

    dyad augment --data data/synth --out data/robust --seed 0

Gain, spectral tilt, bandwidth, room and noise per file (runtime/offline/augmentation.py);
nothing moves in time, so the corpus's face and body ground truth stays exact.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    augment = commands.add_parser("augment", help="copy a corpus with its audio changed as real mics change voices (gain, EQ, bandwidth, room, noise)")
    augment.add_argument("--data", type=Path, required=True, metavar="DIR", help="InterAct-layout corpus (e.g. from `dyad corpus`)")
    augment.add_argument("--out", type=Path, required=True, metavar="DIR")
    augment.add_argument("--seed", type=int, default=0)
    augment.set_defaults(handler=run_augment)


def run_augment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dyad.runtime.offline.augmentation import augment_corpus

    with tqdm(unit="wav", desc="augment") as bar:
        chains = augment_corpus(args.data, args.out, args.seed, lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)))
    print(f"dyad: wrote {args.out} ({len(chains)} WAVs augmented; the chain of each is in augmentation.json)")
    return 0
