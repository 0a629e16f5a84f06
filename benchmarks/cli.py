"""`dyad bench ...`: every benchmark's command line, and `report`.

Each measuring subcommand writes a JSON result and a PNG plot under
`benchmarks/results/<device-name>/` (or `--out DIR`); `report` turns every
result JSON into the tables of docs/latency.md. Building this parser imports nothing
heavy: the model benches' own options are parsed only when one of them runs,
so `dyad --help` does not pay for torch.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from dyad.benchmarks.latency_bench import add_latency_args
from dyad.runtime.errors import DyadError

RESULTS = Path(__file__).resolve().parent / "results"
TABLES_PAGE = Path(__file__).resolve().parents[1] / "docs" / "latency.md"  # the checkout's docs page (editable installs)
MODEL_BENCHES = {  # dyad.benchmarks.model_benches: add_<name>_args(parser), run_<name>(args)
    "steps": "DDIM steps against compute per hop and `dyad eval` quality",
    "backends": "torch eager, torch.compile, ONNX Runtime, CUDA graphs, TensorRT: compute per hop",
    "concurrency": "N dyads batched into one model call per step: dyads per device",
    "anchors": "our streaming schedule against Audio2Face-3D-, DiffSHEG- and Listen-Denoise-Action-style schedules",
}
MODEL_BENCH_MODULE = "dyad.benchmarks.model_benches"
# Benches with their own module: kind -> (module, its add_*_args, its run function, help).
# Each module is imported only to build its parser (light) or to run.
OWN_MODULE_BENCHES = {
    "realvoice": ("realvoice_bench", "add_realvoice_args", "run_realvoice", "the animators on real human voices: lip-voice correlation, attribution, lip error, gesture energy"),
    "netaudio": ("netaudio_bench", "add_netaudio_args", "run_netaudio", "voices over WebRTC and WebSocket on loopback: sender capture -> pose received back"),
    "startup": ("startup_bench", "add_startup_args", "run_startup", "launch to first frame and peak RSS of a live `dyad demo` (targets 2 s, 400 MB)"),
    "budget-quality": ("budget_quality_bench", "add_budget_quality_args", "run_budget_quality", "real-voice quality at the earlier D = 150 ms timing and at the default"),
    "gpu": ("gpu_bench", "add_gpu_args", "run_gpu", "CUDA tests and every GPU bench in one run (results say 'not measured' without a GPU)"),
    "words": ("words_bench", "add_words_args", "run_words", "the live recogniser: WER on real and held-out speech, word lateness, words reaching frames, CPU, deadline misses"),
    "attribution": ("attribution_bench", "add_attribution_args", "run_attribution_bench", "talker attribution on two-mic mixtures of real voices (-2 to -20 dB, a hot mic): gating and cost per block"),
    "body-filter": ("body_filter_bench", "add_body_filter_args", "run_body_filter", "choose the learned body's run-time filter on synthetic held-out data: wrist speed and seams"),
    "serve": ("serve_bench", "add_serve_args", "run_serve_bench", "sessions one `dyad serve` holds at zero misses: batch sizes, compute per hop"),
}


def add_bench_command(commands) -> argparse.ArgumentParser:
    bench = commands.add_parser("bench", help="latency and throughput benchmarks (JSON + PNG per device), docs tables")
    kinds = bench.add_subparsers(dest="bench_command", required=True)
    latency = kinds.add_parser("latency", help="the demo dialogue in real time through the whole pipeline: latency, misses, compute by stage")
    add_latency_args(latency)
    for name, what in MODEL_BENCHES.items():
        # Options are the bench's own (model_benches.add_<name>_args), parsed when it runs: this parser
        # treats nothing as an option ("\0" prefix) and hands the rest of the command line over.
        deferred = kinds.add_parser(name, help=what, add_help=False, prefix_chars="\0")
        deferred.add_argument("bench_argv", nargs=argparse.REMAINDER)
    for name, (module, add_args, _run, what) in OWN_MODULE_BENCHES.items():
        getattr(_bench_module(module), add_args)(kinds.add_parser(name, help=what))
    report = kinds.add_parser("report", help="rewrite the benchmark tables of docs/latency.md from every result JSON")
    report.add_argument("--results", type=Path, default=RESULTS, metavar="DIR", help="results root holding <device>/*.json")
    report.add_argument("--page", "--readme", dest="page", type=Path, default=TABLES_PAGE, metavar="PATH", help="Markdown page with the bench-table markers")
    return bench


def _bench_module(name: str):
    return importlib.import_module(f"dyad.benchmarks.{name}")


def _model_bench(name: str, argv: list[str]) -> int:
    try:
        module = importlib.import_module(MODEL_BENCH_MODULE)
        add_args, run = getattr(module, f"add_{name}_args"), getattr(module, f"run_{name}")
    except (ImportError, AttributeError) as error:
        raise DyadError(f"bench {name} is not available in this install ({error})") from None
    parser = argparse.ArgumentParser(prog=f"dyad bench {name}", description=MODEL_BENCHES[name])
    add_args(parser)
    return int(run(parser.parse_args(argv)) or 0)


def run_bench(args: argparse.Namespace) -> int:
    """Dispatch `dyad bench <kind>`; bad input raises DyadError (one line, exit status 2)."""
    kind = args.bench_command
    if kind == "latency":
        from dyad.benchmarks.latency_bench import run_latency

        return run_latency(args)
    if kind in OWN_MODULE_BENCHES:
        module, _add, run, _what = OWN_MODULE_BENCHES[kind]
        return int(getattr(_bench_module(module), run)(args) or 0)
    if kind == "report":
        from dyad.benchmarks.report import write_report

        print(write_report(args.results, args.page))
        print(f"dyad bench: tables written to {args.page}")
        return 0
    return _model_bench(kind, args.bench_argv)
