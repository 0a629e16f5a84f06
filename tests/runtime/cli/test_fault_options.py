"""Options and files that used to start and then fail, or fail with a traceback, through the real `dyad` command."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zmq

from dyad.models.bundled import DEFAULT_MODEL_DIR
from session_fixtures import write_dialogue


def dyad(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dyad.runtime.cli", "run", *args, "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    return write_dialogue(tmp_path_factory.mktemp("options") / "d.wav", seconds=3.0)


def one_error_line(run: subprocess.CompletedProcess, needle: str) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("dyad: error: ") and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert needle in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--seconds", "inf"], "must be a finite number > 0"),
        (["--seconds", "nan"], "must be a finite number > 0"),
        (["--budget-ms", "99999"], "at most 10000 ms"),
        (["--sink", "bvhstream://127.0.0.1:7001?names=a"], "needs two distinct names"),
        (["--sink", "livelink://127.0.0.1:11111?subjects=a"], "needs two distinct names"),
    ],
)
def test_bad_options_are_refused_at_start(wav, extra, needle):
    one_error_line(dyad("--wav", str(wav), "--offline", "--model", "procedural", *extra), needle)


def test_deeply_nested_model_json_is_one_error_line(wav, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(Path(DEFAULT_MODEL_DIR), model)
    (model / "model.json").write_text("[" * 100_000 + "]" * 100_000)
    one_error_line(dyad("--wav", str(wav), "--offline", "--model", str(model)), "nested too deeply")


def test_zmq_port_zero_is_reported_and_reachable(wav):
    process = subprocess.Popen(
        [sys.executable, "-m", "dyad.runtime.cli", "run", "--wav", str(wav), "--model", "procedural", "--quiet",
         "--sink", "zmq://tcp://127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stderr.readline()
        match = re.fullmatch(r"dyad: sink zmq listening on (tcp://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        context = zmq.Context()
        subscriber = context.socket(zmq.SUB)
        subscriber.setsockopt(zmq.SUBSCRIBE, b"pose.p0")
        subscriber.setsockopt(zmq.RCVTIMEO, 10_000)
        subscriber.connect(match.group(1))
        try:
            topic, header, *_ = subscriber.recv_multipart()
        finally:
            subscriber.close(0)
            context.term()
        assert topic == b"pose.p0" and json.loads(header)["person"] == 0
        process.wait(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0


def test_a_run_without_frames_prints_no_nan(wav):
    run = dyad("--wav", str(wav), "--offline", "--model", "procedural", "--seconds", "0.001")
    assert run.returncode == 0, run.stderr
    assert "nan" not in run.stdout and "0 frames per person" in run.stdout and "p50=n/a" in run.stdout
