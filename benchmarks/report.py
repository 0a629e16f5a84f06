"""`dyad bench report`: the benchmark tables of docs/latency.md, regenerated from every result JSON.

    dyad bench report [--results benchmarks/results] [--page docs/latency.md]

Reads `RESULTS/<device>/*.json` and rewrites what lies between
`<!-- bench-table:start -->` and `<!-- bench-table:end -->` in the page; the
rest of the file is left as it is. Every number in the tables comes from a
JSON file; a device class with no results (no `gpu-*` folder) says "not
measured". Files are read defensively: a missing key shows as "?", a file
that is not a benchmark result is skipped and named on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dyad.runtime.errors import DyadError

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
LATENCY = "session_latency"
MODEL_BENCHES = ("steps", "backends", "anchors", "concurrency")
MAX_CELL = 400  # characters of a summary cell; the JSON holds the rest


def load_results(root: Path) -> dict[str, list[tuple[str, dict]]]:
    """{device folder: [(file name, report)]}, both sorted by name."""
    results: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(root.glob("*/*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            print(f"dyad bench report: skipped {path}: {error}", file=sys.stderr)
            continue
        if isinstance(report, dict) and isinstance(report.get("benchmark"), str):
            results.setdefault(path.parent.name, []).append((path.name, report))
    return results


def _ms(value, digits: int = 1) -> str:
    return f"{value:.{digits}f} ms" if isinstance(value, (int, float)) else "?"


def _num(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "?"


def _get(report: dict, *keys, default=None):
    for key in keys:
        if not isinstance(report, dict):
            return default
        report = report.get(key, default)
    return report


def _animator(report: dict) -> str:
    run = report.get("run")
    if isinstance(run, dict):
        if run.get("animator") != "learned":
            return str(run.get("animator", "?"))
        steps = f"{run.get('steps', '?')} steps"
        if run.get("adapt"):  # the policy may have lowered them: say where it ended
            steps = f"up to {steps}, {_get(report, 'animator_report', 'steps', 'steps_now', default='?')} at the end"
        return f"learned {run.get('backend', '?')} {run.get('device', '')}, {steps}"
    parts = {"lower", "upper", "face", "rest"}
    names = [name.split(".", 1)[1] for name in report.get("stage_ms", {}) if name.startswith("animate.")]
    return next((name for name in names if name not in parts), "?")  # older files: the animator's own stage


def _budget_search(report: dict) -> str:
    search = report.get("budget_search")
    if not isinstance(search, dict):
        return "not searched"
    smallest, floor = search.get("smallest_zero_miss_budget_ms"), search.get("floor_ms")
    misses = search.get("misses_by_budget_ms")
    each = f"; misses by D: {', '.join(f'{d}: {n}' for d, n in misses.items())}" if isinstance(misses, dict) and misses else ""
    if smallest is None:
        return f"none of {search.get('candidates_ms', '?')} ms (floor {_ms(floor)}){each}"
    return f"{smallest:g} ms (floor {_ms(floor)}){each}"


def _compute(report: dict) -> str:
    p99, hop = _get(report, "compute_per_hop_ms", "p99"), report.get("hop_ms")
    if not isinstance(p99, (int, float)):
        return "?"
    ratio = f" ({p99 / hop:.2f} of the hop)" if isinstance(hop, (int, float)) and hop else ""
    return f"{p99:.1f} ms{ratio}"


def latency_row(device: str, name: str, report: dict) -> str:
    seconds = report.get("audio_seconds")
    run = f"{report.get('mode', '?')}, {_animator(report)}, {seconds:.0f} s" if isinstance(seconds, (int, float)) else "?"
    latency = report.get("latency_ms", {})
    cells = [device, f"{run} (`{name}`)", _ms(report.get("budget_ms"), 0), _ms(_get(latency, "p50"), 2), _ms(_get(latency, "p99"), 2),
             str(report.get("deadline_misses", "?")), _budget_search(report), _compute(report)]  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def _flat(value, digits: int = 3) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return str(value)


def summarize(report: dict) -> str:
    """One table cell for a non-latency result: known shapes first, else its rows and short summary."""
    kind = report.get("benchmark")
    shaped = SHAPES.get(kind)
    text = shaped(report) if shaped is not None else _generic(report)
    if report.get("not_measured"):
        text += f"; not measured: {len(report['not_measured'])} configurations (reasons in the JSON)"
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _rows(report: dict) -> list[dict]:
    return [r for r in report.get("rows") or [] if isinstance(r, dict)]


def _p50_p99(row: dict, prefix: str = "hop_ms_") -> str:
    return f"{_num(row.get(prefix + 'p50'))}/{_num(row.get(prefix + 'p99'))}"


def _animator_steps(report: dict) -> str:
    per = []
    for backend, by_steps in (report.get("cpu_ms") or {}).items():
        values = ", ".join(f"{s}: {_p50_p99(v, '')}" for s, v in by_steps.items() if isinstance(v, dict))
        per.append(f"{backend} ms p50/p99 by steps {values}")
    return "; ".join(per) or "?"


def _soak(report: dict) -> str:
    hours = report.get("audio_seconds", 0) / 3600 if isinstance(report.get("audio_seconds"), (int, float)) else float("nan")
    return (f"{report.get('mode', '?')}, {hours:.2f} h of audio: RSS +{_get(report, 'memory', 'growth_after_warmup_mb')} MB, "
            f"{report.get('deadline_misses', '?')} misses, contiguous frames: {_get(report, 'frame_indices', 'contiguous')}, "
            f"passed: {report.get('passed', '?')}")  # fmt: skip


def _steps(report: dict) -> str:
    per = ", ".join(f"{r.get('steps', '?')}: {_p50_p99(r)}" for r in _rows(report))
    fits = _get(report, "summary", "steps_within_allowance_p99")
    quality = "; ".join(f"{name} by steps " + ", ".join(f"{r.get('steps', '?')}: {r[name]:.4f}" for r in _rows(report))
                        for name in ("lip_max_sq", "beat_recall", "beat_align") if all(name in r for r in _rows(report)))  # fmt: skip
    text = f"compute per hop p50/p99 ms by steps {per}; steps within the allowance at p99: {_flat(fits)}"
    return f"{text}; quality ({_rows(report)[0].get('takes', '?')} held-out dialogues): {quality}" if quality else text


def _backends(report: dict) -> str:
    per = ", ".join(f"{r.get('label', '?')}: {_p50_p99(r)}" for r in _rows(report))
    return f"compute per hop p50/p99 ms, {report.get('steps', '?')} steps: {per}; fastest at p99: {_get(report, 'summary', 'fastest_p99')}"


def _anchors(report: dict) -> str:
    per = ", ".join(f"{r.get('schedule', '?')}: {_p50_p99(r.get('latency_ms') or {}, '')}" for r in _rows(report))
    return f"latency p50/p99 ms {per}; target met: {_get(report, 'summary', 'meets_target')}"


def _concurrency(report: dict) -> str:
    per = ", ".join(f"{r.get('dyads', '?')}: {_num(r.get('hop_ms_p99'))}" for r in _rows(report))
    summary = report.get("summary") or {}
    return f"dyads per device: {summary.get('sessions_per_device', '?')} (limit {_ms(summary.get('limit_ms'))}); compute per hop p99 ms by dyads {per}"


def _generic(report: dict) -> str:
    """Rows as `<first field> <value>: <first p99 field>`, then the summary's short scalars, then what was
    not measured; long texts (a summary's own markdown table, descriptions) stay in the JSON."""
    rows = [r for r in report.get("rows") or [] if isinstance(r, dict) and r]
    parts = []
    for row in rows[:8]:
        label, value = next(iter(row.items()))
        p99 = next((f"{k} {_flat(v)}" for k, v in row.items() if "p99" in str(k)), None)
        parts.append(f"{label} {_flat(value)}" + (f": {p99}" if p99 else ""))
    summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    parts += [f"{k}: {_flat(v)}" for k, v in summary.items() if not (isinstance(v, str) and (len(v) > 60 or "\n" in v)) and not isinstance(v, dict)]
    return "; ".join(parts) or "no rows"


def _realvoice(report: dict) -> str:
    def cell(r: dict, key: str) -> str:
        value = _get(r, "mean", key)
        return f"{value:.3g}" if isinstance(value, (int, float)) else "?"

    per = "; ".join(f"{r.get('animator', '?')}: " + " / ".join(cell(r, k) for k in ("jaw_corr", "attribution_ratio", "lip_max_sq", "wrist_speed_mean"))
                    for r in report.get("results") or [])  # fmt: skip
    return f"real voices, jaw-voice r / attribution ratio / lip error / wrist speed: {per}"


def _words(report: dict) -> str:
    s = report.get("summary") or {}
    return (f"sphinx WER real recordings {s.get('wer_realvoice_files')}, synthetic held-out {s.get('wer_heldout_synthetic')}; "
            f"live: lateness after word end p50/p95 (worst run) {s.get('live_lateness_p50_ms_worst')}/{s.get('live_lateness_p95_ms_worst')} ms, "
            f"words on frames {s.get('live_reached_fraction')}, CPU per hop {s.get('live_cpu_per_hop_ms_mean')} ms, "
            f"added deadline misses {s.get('live_added_deadline_misses')}")  # fmt: skip


SHAPES = {"words": _words, "realvoice": _realvoice, "animator_steps": _animator_steps, "soak": _soak, "steps": _steps, "backends": _backends, "anchors": _anchors, "concurrency": _concurrency}


def on_gpu(device: str, report: dict) -> bool:
    """Whether a result was measured on a GPU: a `gpu-*` folder, or a cuda device named in the result."""
    named = [report.get("torch_device"), _get(report, "run", "device"), *(r.get("device") for r in report.get("rows") or [] if isinstance(r, dict))]
    return device.startswith("gpu-") or isinstance(report.get("gpu_ms"), dict) or any(str(n).startswith("cuda") for n in named if n)


def tables(results: dict[str, list[tuple[str, dict]]]) -> str:
    latency = ["| device | run | D | latency p50 | p99 | deadline misses | smallest zero-miss D | compute per hop p99 |", "|---|---|---|---|---|---|---|---|"]
    others = ["| device | benchmark | result |", "|---|---|---|"]
    for device, files in sorted(results.items()):
        for name, report in files:
            if report["benchmark"] == LATENCY:
                latency.append(latency_row(device, name, report))
            else:
                others.append(f"| {device} | {report['benchmark']} (`{name}`) | {summarize(report).replace('|', '/')} |")
    on_gpu_kinds = {r["benchmark"] for device, files in results.items() for _, r in files if on_gpu(device, r)}
    if LATENCY not in on_gpu_kinds:
        latency.append("| GPU | not measured | | | | | | |")
    gpu_missing = [kind for kind in MODEL_BENCHES if kind not in on_gpu_kinds]
    if gpu_missing:
        others.append(f"| GPU | {', '.join(gpu_missing)} | not measured |")
    missing = [kind for kind in MODEL_BENCHES if not any(r["benchmark"] == kind for files in results.values() for _, r in files)]
    if missing:
        others.append(f"| all devices | {', '.join(missing)} | not measured yet (`dyad bench {missing[0]}`) |")
    return "\n".join(latency + ["", *others])


def replace_between_markers(text: str, body: str, where: str) -> str:
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise DyadError(f"{where} has no '{START}' ... '{END}' markers to write the table between")
    return text[: start + len(START)] + "\n" + body + "\n" + text[end:]


def write_report(results_root: Path, readme: Path) -> str:
    if not readme.is_file():
        raise DyadError(f"--page {readme}: no such file")
    results = load_results(results_root)
    body = tables(results)
    readme.write_text(replace_between_markers(readme.read_text(encoding="utf-8"), body, str(readme)), encoding="utf-8")
    return body
