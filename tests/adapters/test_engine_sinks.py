"""Every engine sink in ONE real-time session (two people, 10 s at 30 fps), each read by an independent receiver.

Each receiver must see all 300 frames per person, in order, with the values the
session sent (`SessionResult.bundles`) and recorded (the BVH files in --out).
Expected values are computed here with scipy, not with dyad's converters.
"""

from __future__ import annotations

import io
import json
import socket
import time
from pathlib import Path

import bvh
import bvhio
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dyad.models.arkit import ARKIT_NAMES, LIVE_LINK_NAMES
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.session import Session
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from engine_receivers import (
    OscDump,
    PythonOscServer,
    TcpLineClient,
    UdpCollector,
    ZmqSubscriber,
    decode_live_link,
    free_port,
)
from session_fixtures import write_dialogue

pytestmark = pytest.mark.realtime  # real-time sessions or streams on the wall clock

FPS = 30
SECONDS = 10
FRAMES = FPS * SECONDS
SUBJECTS = ("Alice", "Bob")
MIRROR = np.array([-1.0, 1.0, 1.0])  # template (right-handed, left = +X) -> Unity (left-handed, left = -X)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """Run the session once with every sink and receiver; tests below check one receiver each."""
    tmp = tmp_path_factory.mktemp("engines")
    wav = write_dialogue(tmp / "dialogue.wav", seconds=SECONDS)
    vmc = [OscDump(free_port(), tmp / f"oscdump{p}.txt") for p in (0, 1)]
    livelink = UdpCollector()
    plain = PythonOscServer()
    zmq_port, stream_port = free_port(), free_port(socket.SOCK_STREAM)
    sinks = (
        f"livelink://127.0.0.1:{livelink.port}?subjects={','.join(SUBJECTS)}",
        f"vmc://127.0.0.1:{vmc[0].port},{vmc[1].port}?mtu=1200",
        f"osc://127.0.0.1:{plain.port}",
        f"zmq://tcp://127.0.0.1:{zmq_port}",
        f"bvhstream://127.0.0.1:{stream_port}?hierarchy=1",
    )
    config = SessionConfig(timing=TimingConfig(), offline=False, seconds=SECONDS, out_dir=tmp / "out", sinks=sinks, status_interval_s=0)
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=10, seconds=SECONDS, realtime=True)
    session = Session(config, source, keep_frames=True)
    subscriber = ZmqSubscriber(zmq_port)
    reader = TcpLineClient(stream_port)
    stalled = _stalled_client(stream_port)  # connects and never reads: must cost nobody anything
    server = next(w.sink for w in session.sinks.workers if w.sink.name.startswith("bvhstream"))
    deadline = time.monotonic() + 5
    while server.clients_seen < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # the SUB's subscription reaches the PUB
    result = session.run()
    for receiver in (*vmc, livelink, plain, subscriber):
        receiver.stop()
    stalled.close()
    return {
        "result": result,
        "bundles": result.bundles,
        "vmc": [r.messages() for r in vmc],
        "livelink": [decode_live_link(d) for d in livelink.datagrams],
        "osc": plain.messages,
        "zmq": subscriber.messages,
        "stream": reader.text(),
        "out": tmp / "out",
        "summary": json.loads((tmp / "out" / "session.json").read_text()),
    }


def _stalled_client(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock


@pytest.mark.slow
def test_session_sent_every_frame_to_every_sink(live):
    bundles = live["bundles"]
    assert [b.index for b in bundles] == list(range(FRAMES))
    sinks = live["summary"]["sinks"]
    for name, stats in sinks.items():
        assert stats["sent"] == FRAMES and stats["errors"] == 0 and stats["dropped"] == 0, (name, stats)


def test_live_link_receiver_sees_two_subjects_every_frame(live):
    packets = live["livelink"]
    bundles = live["bundles"]
    assert {p["subject"] for p in packets} == set(SUBJECTS)
    for person, subject in enumerate(SUBJECTS):
        mine = [p for p in packets if p["subject"] == subject]
        assert [p["frame"] for p in mine] == list(range(FRAMES))
        assert {(p["version"], p["count"], p["rate"], p["sub_frame"]) for p in mine} == {(6, 61, (FPS, 1), 0.0)}
        devices = {p["device"] for p in mine}
        assert len(devices) == 1 and len(devices.pop()) == 36
        sent = np.array([p["values"] for p in mine], dtype=np.float32)
        np.testing.assert_array_equal(sent, np.stack([b.people[person].face for b in bundles]))
    assert packets[0]["device"] != next(p["device"] for p in packets if p["subject"] == SUBJECTS[1])


def _vmc_frames(messages: list) -> list[list]:
    """Split an oscdump message list into frames: each frame ends with /VMC/Ext/T."""
    frames, current = [], []
    for message in messages:
        current.append(message)
        if message[0] == "/VMC/Ext/T":
            frames.append(current)
            current = []
    assert not current, "messages after the last /VMC/Ext/T"
    return frames


def _expected_unity(bundle, person: int, skeleton):
    """Unity-space root and local bone transforms computed with scipy (Hips carry height and tilt, root the heading)."""
    pose = bundle.people[person]
    rotations = Rotation.from_rotvec(pose.joint_rotations.astype(np.float64))
    forward = rotations[0].apply([0.0, 0.0, 1.0])
    yaw = np.arctan2(forward[0], forward[2])
    heading = Rotation.from_rotvec([0.0, yaw, 0.0])
    local = [heading.inv() * rotations[0]] + [rotations[j] for j in range(1, skeleton.num_joints)]
    root_xyz = np.array([pose.root_position[0], 0.0, pose.root_position[2]])
    hips_offset = heading.inv().apply(pose.root_position - root_xyz)
    positions = np.vstack([hips_offset, skeleton.offsets[1:]]) * MIRROR / 100.0

    def mirrored(rotation):
        x, y, z, w = rotation.as_quat()
        return np.array([x, -y, -z, w])

    return root_xyz * MIRROR / 100.0, mirrored(heading), positions, np.array([mirrored(r) for r in local])


def _same_rotation(a: np.ndarray, b: np.ndarray) -> bool:
    return abs(float(np.dot(a, b))) > 1 - 1e-5  # q and -q are one rotation


def test_vmc_oscdump_receives_root_bones_blendshapes_apply_ok_t(live):
    skeleton = load_default_skeleton()
    retarget = json.loads((Path(__file__).parents[2] / "models/assets/humanoid_vmc_retarget.json").read_text())["bones"]
    bone_names = [retarget[name] for name in skeleton.joint_names]
    bundles = live["bundles"]
    for person in (0, 1):
        frames = _vmc_frames(live["vmc"][person])
        assert [round(f[-1][2][0] * FPS) for f in frames] == list(range(FRAMES))
        for bundle, frame in zip(bundles, frames):
            addresses = [m[0] for m in frame]
            n = skeleton.num_joints
            assert addresses == (
                ["/VMC/Ext/Root/Pos"] + ["/VMC/Ext/Bone/Pos"] * n + ["/VMC/Ext/Blend/Val"] * 52
                + ["/VMC/Ext/Blend/Apply", "/VMC/Ext/OK", "/VMC/Ext/T"]
            )  # fmt: skip
            assert frame[0][2][0] == "root" and frame[-2][2] == [1]
            assert [m[2][0] for m in frame[1 : 1 + n]] == bone_names
            assert [m[2][0] for m in frame[1 + n : 1 + n + 52]] == list(ARKIT_NAMES)
            shapes = np.array([m[2][1] for m in frame[1 + n : 1 + n + 52]])
            np.testing.assert_allclose(shapes, bundle.people[person].face[:52], atol=1e-6)  # oscdump prints %f
            root_p, root_q, bone_p, bone_q = _expected_unity(bundle, person, skeleton)
            np.testing.assert_allclose(frame[0][2][1:4], root_p, atol=2e-6)
            assert _same_rotation(np.array(frame[0][2][4:8]), root_q)
            got = np.array([m[2][1:8] for m in frame[1 : 1 + n]])
            np.testing.assert_allclose(got[:, :3], bone_p, atol=2e-6)
            assert all(_same_rotation(g, e) for g, e in zip(got[:, 3:], bone_q))


def test_plain_osc_python_osc_server_receives_root_joints_face(live):
    bundles = live["bundles"]
    skeleton = load_default_skeleton()
    messages = live["osc"]
    names = [args for address, args in messages if address == "/dyad/joint_names"]
    assert len(names) == SECONDS and list(names[0]) == list(skeleton.joint_names)
    assert [list(a) for addr, a in messages if addr == "/dyad/face_names"][0] == list(LIVE_LINK_NAMES)
    times = [list(args) for address, args in messages if address == "/dyad/time"]  # python-osc reads the int64 'h' tags
    assert times == [[b.index, b.audio_ns, b.send_ns] for b in bundles]
    for person in (0, 1):
        mine = {kind: [args for address, args in messages if address == f"/dyad/p{person}/{kind}"] for kind in ("root", "joints", "face")}
        for kind, rows in mine.items():
            assert [row[0] for row in rows] == list(range(FRAMES)), kind
        for bundle, root, joints, face in zip(bundles, mine["root"], mine["joints"], mine["face"]):
            pose = bundle.people[person]
            np.testing.assert_array_equal(np.array(root[1:], np.float32), pose.root_position)
            np.testing.assert_array_equal(np.array(face[1:], np.float32), pose.face)
            quats = np.array(joints[1:]).reshape(-1, 4)
            expected = Rotation.from_rotvec(pose.joint_rotations.astype(np.float64)).as_quat()
            assert quats.shape == (skeleton.num_joints, 4)
            assert np.all(np.abs(np.sum(quats * expected, axis=1)) > 1 - 1e-6)


def test_zmq_subscriber_sees_every_frame_in_order(live):
    bundles = live["bundles"]
    by_topic: dict[bytes, list] = {}
    for parts in live["zmq"]:
        by_topic.setdefault(parts[0], []).append(parts)
    assert len(by_topic[b"meta"]) == SECONDS
    for person in (0, 1):
        for kind in ("pose", "face"):
            parts_list = by_topic[f"{kind}.p{person}".encode()]
            headers = [json.loads(parts[1]) for parts in parts_list]
            assert [h["seq"] for h in headers] == list(range(FRAMES))
            for header, parts in zip(headers, parts_list):
                pose = bundles[header["seq"]].people[person]
                arrays = [np.frombuffer(a, "<f4").reshape(s) for a, s in zip(parts[2:], header["shapes"])]
                expected = [pose.root_position, pose.joint_rotations] if kind == "pose" else [pose.face]
                for got, want in zip(arrays, expected):
                    np.testing.assert_array_equal(got, want)


def test_bvh_stream_lines_rebuild_files_that_pypi_parsers_read(live, tmp_path):
    text = live["stream"]
    hierarchy, _, body = text.partition("}\n" + "0 ")  # the root's closing brace ends the hierarchy
    hierarchy += "}\n"
    lines = ("0 " + body).splitlines()
    assert len(lines) == 2 * FRAMES
    rows = {0: [], 1: []}
    for n, line in enumerate(lines):
        tokens = line.split()
        assert tokens[-1] == "||" and int(tokens[0]) == n % 2 and tokens[1] == f"dyad_p{n % 2}"
        rows[n % 2].append(" ".join(tokens[2:-1]))
    for person in (0, 1):
        recorded = (live["out"] / f"p{person}.bvh").read_text()
        motion = recorded.split("Frame Time:")[1].splitlines()[1:]
        assert rows[person] == motion  # the same numbers as the recording, frame by frame
        rebuilt = tmp_path / f"stream_p{person}.bvh"
        rebuilt.write_text(hierarchy + f"MOTION\nFrames: {FRAMES}\nFrame Time: {1 / FPS:.10f}\n" + "\n".join(rows[person]) + "\n")
        mocap = bvh.Bvh(rebuilt.read_text())
        assert mocap.nframes == FRAMES
        bundle = live["bundles"][-1]
        expected = Rotation.from_rotvec(bundle.people[person].joint_rotations[load_default_skeleton().index("LeftArm")].astype(np.float64)).as_euler("ZXY", degrees=True)
        got = mocap.frame_joint_channels(FRAMES - 1, "LeftArm", ["Zrotation", "Xrotation", "Yrotation"])
        np.testing.assert_allclose(got, expected, atol=2e-5)
        root = bvhio.readAsHierarchy(str(rebuilt))
        assert len(root.Keyframes) == FRAMES
    stream_stats = next(s for name, s in live["summary"]["sinks"].items() if name.startswith("bvhstream"))
    assert stream_stats["clients_seen"] == 2
    assert stream_stats["frames_dropped_for_slow_clients"] > 0  # the client that never reads lost frames, nobody else


def test_recordings_hold_every_frame_for_independent_parsers(live):
    for person in (0, 1):
        path = live["out"] / f"p{person}.bvh"
        assert bvh.Bvh(path.read_text()).nframes == FRAMES
        assert len(bvhio.readAsHierarchy(str(path)).Keyframes) == FRAMES
        rows = (live["out"] / f"p{person}_face.csv").read_text().splitlines()
        assert len(rows) == FRAMES + 1 and rows[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft")
        values = np.loadtxt(io.StringIO("\n".join(rows[1:])), delimiter=",", usecols=range(2, 63))
        np.testing.assert_allclose(values, np.stack([b.people[person].face for b in live["bundles"]]), atol=1e-9)
