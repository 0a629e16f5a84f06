"""A few minutes of audio through the soak benchmark: memory stays bounded, frame indices stay contiguous.

The full soak (2 h offline, 10 min real time) is `python -m dyad.benchmarks.soak`; its
figures are in benchmarks/results/<device>/soak.json.
"""

from __future__ import annotations

import pytest

import json

from dyad.benchmarks.session_latency import device_name
from dyad.benchmarks.soak import main


@pytest.mark.slow
def test_short_soak_has_no_growth_no_errors_and_contiguous_indices(tmp_path):
    assert main(["--seconds", "120", "--sample-s", "5", "--warmup-s", "30", "--results", str(tmp_path)]) == 0
    report = json.loads((tmp_path / device_name() / "soak.json").read_text())
    assert report["frames_per_person"] == 3600
    assert report["frame_indices"] == {"received": 3600, "discontinuities": 0, "contiguous": True}
    assert report["memory"]["growth_after_warmup_mb"] < 20  # a leak of even 5 kB per frame would show here
    assert report["exceptions"]["raised"] is None and report["exceptions"]["animator_errors"] == 0
    assert report["exceptions"]["sink_errors"] == 0 and report["deadline_misses"] == 0
    assert len(report["rss_series"]) >= 24
    assert (tmp_path / device_name() / "soak.png").read_bytes()[:4] == b"\x89PNG"
