"""BVH and Live Link Face CSV recorders, read back with independent parsers."""

from __future__ import annotations

import csv
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import bvh as pypi_bvh
import numpy as np
import pytest

from dyad.adapters.bvh_recorder import BvhRecorder
from dyad.adapters.livelink_csv import HEADER, LiveLinkCsvRecorder, read_livelink_csv, timecode
from dyad.models import arkit
from dyad.models.pose import bvh_channels_to_pose, forward_kinematics, pose_to_bvh_channels
from dyad.models.skeleton import Skeleton, load_default_skeleton, read_bvh
from dyad.runtime.frames import FrameBundle, PersonPose

FPS = 30
T0 = 5_000_000_000


def make_bundle(k: int, skeleton: Skeleton, seed: int = 0, fps: int = FPS, people: int = 2) -> FrameBundle:
    rng = np.random.default_rng(seed * 100_003 + k)
    poses = tuple(
        PersonPose(
            person=p,
            root_position=np.array([50.0 * p + k, 95.0, 0.5 * k]) + rng.normal(0, 1, 3),
            joint_rotations=rng.normal(0, 0.5, (skeleton.num_joints, 3)),
            face=np.concatenate([rng.uniform(0, 1, 52), rng.uniform(-1, 1, 9)]),
        )
        for p in range(people)
    )
    audio_ns = T0 + (k * 1_000_000_000) // fps
    return FrameBundle(index=k, audio_ns=audio_ns, target_ns=audio_ns + 150_000_000,
                       send_ns=audio_ns + 151_000_000, fps=fps, people=poses)  # fmt: skip


@pytest.fixture(scope="module")
def skeleton() -> Skeleton:
    return load_default_skeleton()


def expected_channels(skeleton: Skeleton, bundles: list[FrameBundle], person: int) -> np.ndarray:
    poses = [b.people[person] for b in bundles]
    return pose_to_bvh_channels(
        skeleton, np.stack([p.root_position for p in poses]), np.stack([p.joint_rotations for p in poses])
    )


def parse_independently(path: Path) -> pypi_bvh.Bvh:
    parsed = pypi_bvh.Bvh(path.read_text())
    assert parsed.nframes == len(parsed.frames)  # the count always matches the lines present
    return parsed


# ---------------------------------------------------------------- BVH recorder


def test_bvh_recording_parses_with_pypi_bvh(skeleton: Skeleton, tmp_path: Path) -> None:
    bundles = [make_bundle(k, skeleton) for k in range(75)]
    with BvhRecorder(tmp_path, skeleton, FPS) as recorder:
        for bundle in bundles:
            recorder.send(bundle)
    assert recorder.frames == recorder.flushed_frames == 75
    for person in (0, 1):
        path = tmp_path / f"p{person}.bvh"
        parsed = parse_independently(path)
        assert parsed.nframes == 75
        assert parsed.frame_time == pytest.approx(1 / FPS, rel=1e-8)  # 10 decimals
        assert parsed.get_joints_names() == list(skeleton.joint_names)
        got = np.array(parsed.frames, dtype=float)
        np.testing.assert_allclose(got, expected_channels(skeleton, bundles, person), atol=5.1e-7)
        # and the pose comes back through our own reader
        read_skeleton, frame_time, motion = read_bvh(path)
        root, rotations = bvh_channels_to_pose(read_skeleton, motion)
        truth = [b.people[person] for b in bundles]
        np.testing.assert_allclose(
            forward_kinematics(skeleton, root, rotations),
            forward_kinematics(skeleton, np.stack([p.root_position for p in truth]),
                               np.stack([p.joint_rotations for p in truth])),
            atol=1e-3,
        )  # fmt: skip


def test_bvh_frames_field_is_fixed_width_and_flushed_each_second(skeleton: Skeleton, tmp_path: Path) -> None:
    recorder = BvhRecorder(tmp_path, skeleton, FPS, people=1)
    path = tmp_path / "p0.bvh"
    header_size = path.stat().st_size
    assert re.search(r"^Frames: 0 {9}$", path.read_text(), re.M)
    for k in range(45):
        recorder.send(make_bundle(k, skeleton, people=1))
    # one second (30 frames) is on disk, the rest waits for the next flush
    parsed = parse_independently(path)
    assert parsed.nframes == 30 and recorder.flushed_frames == 30
    recorder.close()
    text = path.read_text()
    assert re.search(r"^Frames: 45 {8}$", text, re.M)
    assert parse_independently(path).nframes == 45
    assert len(text.encode()) - header_size == sum(len(line) + 1 for line in text.splitlines()[-45:])
    recorder.close()  # idempotent
    with pytest.raises(RuntimeError):
        recorder.send(make_bundle(45, skeleton, people=1))


def test_bvh_recorder_holds_missing_person_and_checks_input(skeleton: Skeleton, tmp_path: Path) -> None:
    first = make_bundle(0, skeleton)
    only_p1 = FrameBundle(index=1, audio_ns=first.audio_ns + 33_333_333, target_ns=0, send_ns=0, fps=FPS,
                          people=(make_bundle(1, skeleton).people[1],))  # fmt: skip
    with BvhRecorder(tmp_path, skeleton, FPS) as recorder:
        recorder.send(first)
        recorder.send(only_p1)
        with pytest.raises(ValueError):
            recorder.send(make_bundle(2, skeleton, fps=60))
        wrong = PersonPose(person=0, root_position=np.zeros(3), joint_rotations=np.zeros((3, 3)), face=np.zeros(61))
        with pytest.raises(ValueError):
            recorder.send(FrameBundle(index=2, audio_ns=0, target_ns=0, send_ns=0, fps=FPS, people=(wrong,)))
    p0 = np.array(parse_independently(tmp_path / "p0.bvh").frames, dtype=float)
    p1 = np.array(parse_independently(tmp_path / "p1.bvh").frames, dtype=float)
    assert len(p0) == len(p1) == 2
    np.testing.assert_array_equal(p0[1], p0[0])  # p0 missing from frame 1: held
    np.testing.assert_allclose(p1[1], expected_channels(skeleton, [only_p1], 0)[0], atol=5.1e-7)


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_recorders import make_bundle
    from dyad.adapters.bvh_recorder import BvhRecorder
    from dyad.adapters.livelink_csv import LiveLinkCsvRecorder
    from dyad.models.skeleton import load_default_skeleton

    out, mode = Path(sys.argv[1]), sys.argv[2]
    skeleton = load_default_skeleton()
    body = BvhRecorder(out, skeleton, 30, flush_every=10)
    face = LiveLinkCsvRecorder(out, 30, flush_every=10)
    for k in range(27):  # flushes after frames 10 and 20; 7 frames still pending
        bundle = make_bundle(k, skeleton)
        body.send(bundle)
        face.send(bundle)
    if mode == "exit":
        os._exit(3)  # no close, no atexit, no buffer flush
    print("ready", flush=True)
    time.sleep(60)  # killed with SIGKILL by the test
    """
)


@pytest.mark.parametrize("mode", ["exit", "sigkill"])
def test_crash_leaves_files_with_exactly_the_flushed_frames(skeleton: Skeleton, tmp_path: Path, mode: str) -> None:
    script = CRASH_SCRIPT.format(tests=str(Path(__file__).parent))
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), mode],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    if mode == "exit":
        _, err = process.communicate(timeout=60)
        assert process.returncode == 3, err
    else:
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    bundles = [make_bundle(k, skeleton) for k in range(20)]
    for person in (0, 1):
        bvh_path = tmp_path / f"p{person}.bvh"
        parsed = parse_independently(bvh_path)
        assert parsed.nframes == len(parsed.frames) == 20
        np.testing.assert_allclose(np.array(parsed.frames, dtype=float),
                                   expected_channels(skeleton, bundles, person), atol=5.1e-7)  # fmt: skip
        assert read_bvh(bvh_path)[2].shape == (20, skeleton.channel_count)
        with open(tmp_path / f"p{person}_face.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 20 and rows[-1]["Timecode"] == "00:00:00:19.000"


# ---------------------------------------------------------- Live Link Face CSV


def test_timecode_known_answers() -> None:
    assert timecode(0, 30) == "00:00:00:00.000"
    assert timecode((29 * 1_000_000_000) // 30, 30) == "00:00:00:29.000"
    assert timecode(3_723_000_000_000 + 500_000_000, 60) == "01:02:03:30.000"
    assert timecode(16_666_666, 60) == "00:00:00:01.000"  # rounds to a thousandth of a frame
    assert timecode(8_333_333, 60) == "00:00:00:00.500"
    assert timecode(25 * 3600 * 1_000_000_000, 30) == "01:00:00:00.000"  # wraps at 24 h
    for k in range(0, 10_000, 7):  # t0 + k / fps in whole ns always lands on frame k
        assert timecode((k * 1_000_000_000) // 30, 30).endswith(f":{k % 30:02d}.000")


def test_csv_recording_read_back_by_header_name(skeleton: Skeleton, tmp_path: Path) -> None:
    bundles = [make_bundle(k, skeleton, seed=3) for k in range(65)]
    with LiveLinkCsvRecorder(tmp_path, FPS) as recorder:
        for bundle in bundles:
            recorder.send(bundle)
    for person in (0, 1):
        path = tmp_path / f"p{person}_face.csv"
        lines = path.read_text().splitlines()
        assert lines[0] == HEADER
        assert lines[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft,") and lines[0].endswith(",RightEyeRoll")
        assert re.fullmatch(r"\d\d:\d\d:\d\d:\d\d\.\d{3},61(,-?\d\.\d{10}){61}", lines[1])
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 65
        assert [r["Timecode"] for r in rows[29:32]] == ["00:00:00:29.000", "00:00:01:00.000", "00:00:01:01.000"]
        assert all(r["BlendShapeCount"] == "61" for r in rows)
        for k in (0, 31, 64):
            face = bundles[k].people[person].face
            got = [float(rows[k][name]) for name in arkit.LIVE_LINK_NAMES]
            np.testing.assert_allclose(got, face, atol=1e-9)
        names, values = read_livelink_csv(path)
        assert names == arkit.LIVE_LINK_NAMES
        np.testing.assert_allclose(values, [b.people[person].face for b in bundles], atol=1e-7)


def export_style_header() -> list[str]:
    """Column order of a real Live Link Face export: Jaw and Mouth Left/Right swapped."""
    names = list(arkit.LIVE_LINK_NAMES)
    for a, b in (("JawLeft", "JawRight"), ("MouthLeft", "MouthRight")):
        i, j = names.index(a), names.index(b)
        names[i], names[j] = names[j], names[i]
    return names


def test_reader_maps_swapped_export_columns_by_name(tmp_path: Path) -> None:
    names = export_style_header()
    assert names[15:17] == ["JawRight", "JawLeft"] and names[21:23] == ["MouthRight", "MouthLeft"]
    rng = np.random.default_rng(9)
    table = rng.uniform(0, 1, (4, 61)).round(10)
    path = tmp_path / "export.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Timecode", "BlendShapeCount", *names])
        for k, row in enumerate(table):
            writer.writerow([f"12:27:47:{k:02d}.169", 61, *[f"{v:.10f}" for v in row]])
    got_names, values = read_livelink_csv(path)
    assert list(got_names) == names
    for column, name in enumerate(names):
        np.testing.assert_allclose(values[:, arkit.index_of(name)], table[:, column], atol=1e-7)
    assert values[0, arkit.index_of("JawLeft")] == pytest.approx(table[0, 16])


def test_reader_fills_missing_shapes_and_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "fifty_one.csv"
    names = [n for n in arkit.ARKIT_NAMES if n != "TongueOut"]
    path.write_text("Timecode,BlendShapeCount," + ",".join(names) + "\n"
                    + "00:00:00:00.000,51," + ",".join(["0.5"] * 51) + "\n\n")  # fmt: skip
    _, values = read_livelink_csv(path)
    assert values.shape == (1, 61)
    assert values[0, arkit.index_of("TongueOut")] == 0 and values[0, 0] == 0.5 and not values[0, 52:].any()
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,1,0.1\n00:00:00:01.000,1\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3:"):
        read_livelink_csv(bad)
    bad.write_text("Timecode,BlendShapeCount,JawOpen,Smirk\n00:00:00:00.000,2,0.1,0.2\n")
    with pytest.raises(ValueError, match="Smirk"):
        read_livelink_csv(bad)


# ------------------------------------------------------------------ ARKit names


def test_arkit_names_and_mapping() -> None:
    assert len(arkit.ARKIT_NAMES) == 52 and len(arkit.LIVE_LINK_NAMES) == 61
    assert arkit.LIVE_LINK_NAMES[17] == "JawOpen" and arkit.LIVE_LINK_NAMES[51] == "TongueOut"
    assert arkit.LIVE_LINK_NAMES[52:55] == ("HeadYaw", "HeadPitch", "HeadRoll")
    assert arkit.LIVE_LINK_NAMES[-1] == "RightEyeRoll"
    assert arkit.arkit_camel_name("EyeBlinkLeft") == "eyeBlinkLeft"
    assert arkit.index_of("eyeBlinkLeft") == arkit.index_of("EyeBlinkLeft") == 0
    assert arkit.index_of("jawOpen") == 17 and arkit.index_of("blendShape1.mouthSmile_L") == 23
    with pytest.raises(KeyError):
        arkit.index_of("smirk")
    camel = [arkit.arkit_camel_name(n) for n in arkit.ARKIT_NAMES[:51]]
    values = np.arange(2 * 51, dtype=np.float32).reshape(2, 51)
    mapped = arkit.map_by_name(camel[::-1], values[:, ::-1])
    assert mapped.shape == (2, 61)
    np.testing.assert_array_equal(mapped[:, :51], values)
    assert not mapped[:, 51:].any()
    with pytest.raises(ValueError):
        arkit.map_by_name(["JawOpen", "jawOpen"], np.zeros(2))
    np.testing.assert_array_equal(arkit.map_by_name(["JawOpen", "x"], np.ones(2), ignore_unknown=True)[17], 1)
