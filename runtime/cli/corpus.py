"""`dyad corpus`: write a synthetic two-person dialogue corpus (InterAct layout) to train on."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands) -> None:
    corpus = commands.add_parser("corpus", help="write a synthetic two-person dialogue corpus (InterAct layout)")
    corpus.add_argument("--minutes", type=float, required=True)
    corpus.add_argument("--out", type=Path, required=True, metavar="DIR")
    corpus.add_argument("--seed", type=int, default=0)
    corpus.set_defaults(handler=run_corpus)


def run_corpus(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from dyad.runtime.offline.corpus import write_corpus

    with tqdm(total=round(args.minutes * 60), unit="s", desc="corpus") as bar:
        takes = write_corpus(args.out, args.minutes, args.seed, progress=lambda done, _: bar.update(round(done) - bar.n))
    seconds = sum(t["seconds"] for t in takes)
    print(f"dyad: wrote {len(takes)} dialogues ({seconds / 60:.1f} min) to {args.out}")
    return 0
