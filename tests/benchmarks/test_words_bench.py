"""`dyad bench words` writes its JSON and PNG from a real recording (numbers are not asserted as targets)."""

from __future__ import annotations

import json

import pytest

from dyad.benchmarks.words_bench import summarize
from dyad.runtime.cli.main import main
from realvoice_fixtures import REALVOICE, needs_realvoice

CLIP = "fasterwhisper_stereoR_spkB.wav"


@needs_realvoice
def test_words_bench_scores_the_recogniser_on_a_transcribed_recording(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (real / CLIP).symlink_to(REALVOICE / CLIP)
    entries = json.loads((REALVOICE / "transcripts.json").read_text())
    (real / "transcripts.json").write_text(json.dumps({CLIP: entries[CLIP], "absent.wav": {"text": "not here"}}))
    out = tmp_path / "results"
    assert main(["bench", "words", "--real", str(real), "--no-live", "--out", str(out)]) == 0
    report = json.loads((out / "words.json").read_text())
    assert report["benchmark"] == "words" and report["device"]
    (row,) = report["rows"]  # the recording that is not there is not scored
    assert row["file"] == CLIP and row["reference_words"] == 5
    assert row["wer"] == pytest.approx(row["errors"] / 5, abs=1e-3) and row["hypothesis"]
    assert report["summary"]["wer_realvoice_files"] == row["wer"]
    assert {n["part"] for n in report["not_measured"]} == {"heldout", "live"}
    assert (out / "words.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_words_bench_summary_pools_errors_and_compares_misses_with_the_recogniser_off():
    live = lambda asr, misses, received, reached, p95: {  # noqa: E731
        "part": "live", "input": "demo", "asr": asr, "deadline_misses": misses, "words_received": received,
        "words_reached_frames": reached, "lateness_after_end_ms": {"p50": p95 / 2, "p95": p95},
        "cpu_per_hop_ms": {"count": 3, "mean": 12.0}, "asr_audio_dropped_s": 0.0,
    }  # fmt: skip
    rows = [
        {"part": "files", "errors": 3, "reference_words": 10},
        {"part": "files", "errors": 1, "reference_words": 30},
        live("none", 2, 0, 0, 0.0),
        live("sphinx", 3, 40, 38, 900.0),
    ]
    summary = summarize(rows)
    assert summary["wer_realvoice_files"] == 0.1 and summary["wer_heldout_synthetic"] is None
    assert summary["live_added_deadline_misses"] == 1 and summary["live_reached_fraction"] == 0.95
    assert summary["targets_met"] == {"reached_fraction": True, "lateness_p95": True, "added_misses": False}
