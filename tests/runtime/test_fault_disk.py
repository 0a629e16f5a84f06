"""Bad output folders and full disks, with a real `dyad run` subprocess each time.

- A file-size limit (`ulimit -f`, set with setrlimit in the child) and a full disk
  (a 400 KB tmpfs in a private mount namespace, `unshare -m`): recording stops at the
  last whole flush, every file parses with the independent `bvh` parser and the csv
  module, the BVH `Frames:` count matches its lines, session.json says why and how
  many frames were not recorded, and the run exits non-zero with a loud line.
- A run that fails at start-up (a bad sink URL) leaves the previous take in the same
  folder byte for byte; a second good run into the same folder goes to `DIR-002`.
- A FIFO named p0.bvh, or a folder named session.json, in `--out` neither hangs the
  run nor crashes it after recording.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from session_fixtures import write_dialogue
from test_fault_process import csv_rows, parse_bvh

pytestmark = pytest.mark.slow

RECORDING = ("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv")


def dyad(*args: str, limit_bytes: int | None = None, timeout: float = 120, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    command = [*prefix, sys.executable, "-m", "dyad.runtime.cli", "run", *args, "--offline", "--model", "procedural", "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, preexec_fn=limit)


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    return write_dialogue(tmp_path_factory.mktemp("disk") / "d.wav", seconds=8.0)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def check_whole(out: Path, summary: dict) -> dict[str, int]:
    """Every file parses, BVH counts match lines, and each recorder's file holds what session.json says."""
    sinks = summary["sinks"]
    held = {name: parse_bvh(out / name) for name in ("p0.bvh", "p1.bvh")}  # asserts Frames: == lines
    held |= {name: len(csv_rows(out / name, 63)) for name in ("p0_face.csv", "p1_face.csv")}
    held["frames.csv"] = len(csv_rows(out / "frames.csv", 8))
    assert held["p0.bvh"] == held["p1.bvh"] == sinks["bvh"]["frames_recorded"]
    assert held["p0_face.csv"] == held["p1_face.csv"] == sinks["livelink_csv"]["frames_recorded"]
    assert held["frames.csv"] == sinks["frames_csv"]["frames_recorded"]
    for name in ("bvh", "livelink_csv", "frames_csv"):
        assert sinks[name]["frames_recorded"] + sinks[name]["frames_not_recorded"] == summary["frames"]["p0"]
    for path in out.iterdir():
        if path.suffix in (".bvh", ".csv"):
            assert path.read_bytes().endswith(b"\n"), f"{path.name} ends in a partial line"
    return held


def test_file_size_limit_stops_recording_cleanly_and_fails_loudly(wav, tmp_path):
    out = tmp_path / "out"
    run = dyad("--wav", str(wav), "--out", str(out), limit_bytes=100 * 1024)  # ulimit -f 100
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    summary = json.loads((out / "session.json").read_text())
    assert summary["frames"]["p0"] == 240
    held = check_whole(out, summary)
    assert held["p0.bvh"] < 240 and held["p0.bvh"] % 30 == 0  # stopped at a whole flush
    assert summary["sinks"]["bvh"]["stopped"] == "p0.bvh: File too large"
    assert "dyad: error: recording bvh stopped: p0.bvh: File too large" in run.stderr
    assert f"the files hold {held['p0.bvh']} whole frames" in run.stderr


def test_full_disk_in_a_private_mount_namespace(wav, tmp_path):
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("no private mount namespaces here (needs unshare and CAP_SYS_ADMIN)")
    mount = tmp_path / "small"
    mount.mkdir()
    script = (
        f"mount -t tmpfs -o size=400k tmpfs {mount} && "
        f"{sys.executable} -m dyad.runtime.cli run --wav {wav} --offline --model procedural --quiet --out {mount}/out; "
        f"echo rc=$?; mkdir -p {tmp_path}/copy && cp -r {mount}/out {tmp_path}/copy/"
    )
    run = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert "rc=0" not in run.stdout, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "No space left on device" in run.stderr
    out = tmp_path / "copy" / "out"
    for name in ("p0.bvh", "p1.bvh"):
        parse_bvh(out / name)  # whole lines, Frames: == lines
    for name in ("p0_face.csv", "p1_face.csv"):
        csv_rows(out / name, 63)
    csv_rows(out / "frames.csv", 8)
    if (out / "session.json").exists():  # written if the rollback freed enough room
        check_whole(out, json.loads((out / "session.json").read_text()))


def test_failed_start_leaves_the_previous_take_untouched(wav, tmp_path):
    out = tmp_path / "out"
    first = dyad("--wav", str(wav), "--out", str(out), "--seconds", "2")
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    assert set(RECORDING) <= set(before) and len(before["p0.bvh"]) > 10_000
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        for option, url, why in (
            ("--sink", "osc://127.0.0.1:0", "needs a port"),  # the report's example: a bad sink URL
            ("--control", f"osc://127.0.0.1:{busy.getsockname()[1]}", "cannot listen"),  # a port clash, found late
        ):
            failed = dyad("--wav", str(wav), "--out", str(out), option, url)
            assert failed.returncode == 2 and failed.stderr.startswith(f"dyad: error: "), failed.stderr
            assert why in failed.stderr and len(failed.stderr.splitlines()) == 1, failed.stderr
            assert snapshot(out) == before
            assert not (tmp_path / "out-002").exists()  # nothing was created for the failed run either
    finally:
        busy.close()


def test_second_run_into_the_same_folder_is_numbered_and_said(wav, tmp_path):
    out = tmp_path / "out"
    assert dyad("--wav", str(wav), "--out", str(out), "--seconds", "1").returncode == 0
    before = snapshot(out)
    second = dyad("--wav", str(wav), "--out", str(out), "--seconds", "2")
    assert second.returncode == 0, second.stderr
    assert f"'{out}' already holds a recording; this run records into '{out}-002'" in second.stderr
    assert f"recordings in {out}-002" in second.stdout
    assert snapshot(out) == before
    assert json.loads((tmp_path / "out-002" / "session.json").read_text())["frames"]["p0"] == 60


def test_fifo_and_session_json_folder_in_out_neither_hang_nor_crash(wav, tmp_path):
    for name, make in (("p0.bvh", os.mkfifo), ("session.json", os.mkdir)):
        out = tmp_path / name.replace(".", "_")
        out.mkdir()
        make(out / name)
        run = dyad("--wav", str(wav), "--out", str(out), "--seconds", "1", timeout=60)
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr and "records into" in run.stderr
        numbered = out.with_name(out.name + "-002")
        assert json.loads((numbered / "session.json").read_text())["frames"]["p0"] == 30
