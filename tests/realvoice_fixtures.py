"""Where the real recordings live: ../shared/realvoice beside the checkout, or $DYAD_REALVOICE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REALVOICE = Path(os.environ.get("DYAD_REALVOICE", Path(__file__).resolve().parents[2] / "shared" / "realvoice"))
needs_realvoice = pytest.mark.skipif(not (REALVOICE / "jfk_44k1_mono.wav").is_file(), reason=f"real recordings not found at {REALVOICE} (set DYAD_REALVOICE)")
