"""The learned model's benchmarks, for `dyad bench ...`: one `add_*_args(parser)` and one `run_*(args) -> int` each.

    steps        DDIM steps against compute per hop and `dyad eval` quality    -> steps.json / .png
    backends     torch eager, torch.compile, ONNX Runtime, CUDA graphs, TensorRT -> backends.json / .png
    anchors      our streaming schedule against Audio2Face-3D-, DiffSHEG- and
                 Listen-Denoise-Action-style schedules on the same model and audio -> anchors.json / .png
    concurrency  N dyads batched into one model call per step: dyads per device  -> concurrency.json / .png

Common options: --model DIR (default: the bundled model), --hops N, --out DIR
(default: benchmarks/results/<device-name>/), --device cpu | cuda[:N]. Every JSON
has `benchmark`, `device`, `machine`, `rows`, `summary` and `not_measured`
(configurations this machine cannot run, with the reason; nothing is estimated).
Bad options raise `DyadError` with a one-line message. The implementations live in
one module per benchmark next to this one.
"""

from __future__ import annotations

from dyad.benchmarks.anchors_bench import add_anchors_args, run_anchors
from dyad.benchmarks.backends_bench import add_backends_args, run_backends
from dyad.benchmarks.concurrency_bench import add_concurrency_args, run_concurrency
from dyad.benchmarks.steps_bench import add_steps_args, run_steps

__all__ = [
    "add_anchors_args",
    "add_backends_args",
    "add_concurrency_args",
    "add_steps_args",
    "run_anchors",
    "run_backends",
    "run_concurrency",
    "run_steps",
]
