"""The latency benchmark's figure: latency CDF per budget, and compute per hop stacked by stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_latency(report: dict, curves: list[tuple[float, np.ndarray]], path: Path) -> None:
    """Left: CDF of end-to-end latency per frame, one curve per budget run. Right: the first run's
    compute per hop, p50 and p99 of each stage stacked, against the hop and half the hop."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    fig, (cdf, bars) = plt.subplots(1, 2, figsize=(12, 4.5))
    _cdf(cdf, report, curves)
    _stacked(bars, report)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cdf(ax, report: dict, curves: list[tuple[float, np.ndarray]]) -> None:
    for budget_ms, latency_ms in curves:
        ordered = np.sort(latency_ms)
        line = ax.plot(ordered, np.arange(1, ordered.size + 1) / max(1, ordered.size), label=f"D = {budget_ms:g} ms")[0]
        ax.axvline(budget_ms, color=line.get_color(), linestyle=":", linewidth=0.8)
    run = report.get("run", {})
    ax.set_xlabel("end-to-end latency per frame: send - capture (ms)")
    ax.set_ylabel("fraction of frames")
    ax.set_title(
        f"{report['mode']}, {run.get('animator', '?')} {run.get('backend', '')}, {report['audio_seconds']:.0f} s: "
        f"{report['deadline_misses']} misses at D = {report['budget_ms']:g} ms",
        fontsize=9,
    )
    ax.legend(fontsize=8)


def _stacked(ax, report: dict) -> None:
    stages = report.get("stage_per_hop_ms", {})
    colors = matplotlib_colors(len(stages))
    for x, stat in enumerate(("p50", "p99")):
        bottom = 0.0
        for (name, summary), color in zip(stages.items(), colors):
            value = summary.get(stat, 0.0)
            ax.bar(x, value, bottom=bottom, color=color, label=name if x == 0 else None, width=0.6)
            bottom += value
    total = report.get("compute_per_hop_ms", {})
    for x, stat in enumerate(("p50", "p99")):
        if stat in total:
            ax.plot([x - 0.35, x + 0.35], [total[stat]] * 2, color="black", linewidth=2, label="total (measured)" if x == 0 else None)
    hop = report["hop_ms"]
    ax.axhline(hop, color="red", linestyle="--", linewidth=1, label=f"hop {hop:.1f} ms")
    ax.axhline(hop / 2, color="orange", linestyle="--", linewidth=1, label="half the hop")
    ax.set_xticks([0, 1], ["stages at p50", "stages at p99"])
    ax.set_xlim(-0.6, 2.6)  # room for the legend on the right
    ax.set_ylabel("compute per hop (ms)")
    ax.set_title(f"{report['device']}: compute per hop by stage", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def matplotlib_colors(count: int) -> list:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab20")
    return [cmap(i % 20) for i in range(count)]
