"""The live session's process imports neither torch nor transformers (start-up seconds and hundreds of MB)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "torchaudio", "transformers")
SCRIPT = """
import json, sys
from dyad.runtime.cli.main import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "heavy": sorted(m for m in %r if m in sys.modules)}))
""" % (HEAVY,)


def _demo_modules(tmp_path, *extra: str) -> dict:
    args = ["demo", "--offline", "--seconds", "1", "--quiet", "--out", str(tmp_path / "rec"), *extra]
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_demo_session_with_word_features_runs_without_torch(tmp_path):
    # The demo has BERT word features on (timed transcript -> MiniLM), mel, Silero VAD and separation.
    result = _demo_modules(tmp_path)
    assert result == {"status": 0, "heavy": []}
    summary = json.loads((tmp_path / "rec" / "session.json").read_text())
    assert summary["frames"]["p0"] == 30 and summary["speech_features"]["words"]["dim"] == 384
