"""Known poses arrive as the expected numbers: Unity quaternions over VMC, Euler angles in BVH, template quaternions over OSC.

The pose: person 0 raises the left arm 90 degrees (sideways, up) and turns the
head 90 degrees to the left; person 1 stands in the rest pose, turned to face -Z.
In the template (right-handed, Y up, facing +Z, left = +X):
  left arm up   = Rz(+90) (takes +X to +Y)   quaternion (0, 0, 0.7071, 0.7071)
  head left     = Ry(+90) (takes +Z to +X)   quaternion (0, 0.7071, 0, 0.7071)
In Unity (left-handed, Y up, facing +Z, left = -X), mirrored in X:
  left arm up   = (0, 0, -0.7071, 0.7071): takes Unity's left (-X) to up (+Y)
  head left     = (0, -0.7071, 0, 0.7071): takes Unity's forward (+Z) to the left (-X)
BVH channels "Zrotation Xrotation Yrotation": LeftArm (90, 0, 0), Head (0, 0, 90).
"""

from __future__ import annotations

import socket
import time

import bvh
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from dyad.adapters.bvh_recorder import BvhRecorder
from dyad.adapters.bvh_stream import BvhStreamServer
from dyad.adapters.osc_plain import PlainOscSender
from dyad.adapters.vmc_osc import VmcSender
from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.frames import FrameBundle, PersonPose
from engine_receivers import OscDump, PythonOscServer, TcpLineClient, free_port

S = np.sqrt(0.5)
UNITY_LEFT_ARM_UP = np.array([0.0, 0.0, -S, S])
UNITY_HEAD_LEFT = np.array([0.0, -S, 0.0, S])


@pytest.fixture(scope="module")
def skeleton():
    return load_default_skeleton()


@pytest.fixture(scope="module")
def known_pose(skeleton) -> FrameBundle:
    raised = np.zeros((skeleton.num_joints, 3))
    raised[skeleton.index("LeftArm")] = [0.0, 0.0, np.pi / 2]
    raised[skeleton.index("Head")] = [0.0, np.pi / 2, 0.0]
    turned = np.zeros((skeleton.num_joints, 3))
    turned[0] = [0.0, np.pi, 0.0]
    people = (
        PersonPose(0, np.array([-40.0, 95.0, 0.0]), raised, np.linspace(0, 1, 61)),
        PersonPose(1, np.array([40.0, 95.0, 120.0]), turned, np.zeros(61)),
    )
    return FrameBundle(index=0, audio_ns=0, target_ns=0, send_ns=0, fps=30, people=people)


def _bone(messages, name):
    return next(np.array(values[1:]) for address, _, values in messages if address == "/VMC/Ext/Bone/Pos" and values[0] == name)


def test_vmc_left_arm_raised_is_the_expected_unity_quaternion(skeleton, known_pose, tmp_path):
    dumps = [OscDump(free_port(), tmp_path / f"dump{p}.txt") for p in (0, 1)]
    sender = VmcSender("127.0.0.1", (dumps[0].port, dumps[1].port), skeleton)
    sender.send(known_pose)
    sender.close()
    time.sleep(0.3)
    for dump in dumps:
        dump.stop()
    first, second = dumps[0].messages(), dumps[1].messages()
    arm, head = _bone(first, "LeftUpperArm"), _bone(first, "Head")
    np.testing.assert_allclose(arm[3:], UNITY_LEFT_ARM_UP, atol=1e-6)
    np.testing.assert_allclose(head[3:], UNITY_HEAD_LEFT, atol=1e-6)
    np.testing.assert_allclose(arm[:3], [-0.14, 0.0, 0.0], atol=1e-6)  # 14 cm along Unity's left
    # what those numbers mean in Unity: the arm points up, the face points to the character's left
    np.testing.assert_allclose(Rotation.from_quat(arm[3:]).apply([-1.0, 0.0, 0.0]), [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(Rotation.from_quat(head[3:]).apply([0.0, 0.0, 1.0]), [-1, 0, 0], atol=1e-6)
    root = next(np.array(v[1:]) for a, _, v in first if a == "/VMC/Ext/Root/Pos")
    np.testing.assert_allclose(root, [0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], atol=1e-6)  # x = -(-40 cm)
    np.testing.assert_allclose(_bone(first, "Hips"), [0, 0.95, 0, 0, 0, 0, 1], atol=1e-6)
    # person 1 turned 180 degrees: the heading goes to the root, the hips stay upright
    root1 = next(np.array(v[1:]) for a, _, v in second if a == "/VMC/Ext/Root/Pos")
    np.testing.assert_allclose(root1[:3], [-0.4, 0.0, 1.2], atol=1e-6)
    assert abs(root1[4]) == pytest.approx(1.0, abs=1e-6)  # (0, +-1, 0, 0): 180 degrees about Y
    np.testing.assert_allclose(_bone(second, "Hips")[3:], [0, 0, 0, 1], atol=1e-6)


def test_bvh_file_and_stream_carry_the_expected_euler_angles(skeleton, known_pose, tmp_path):
    port = free_port(socket.SOCK_STREAM)
    server = BvhStreamServer("127.0.0.1", port, skeleton, send_hierarchy=True)
    client = TcpLineClient(port)
    deadline = time.monotonic() + 5
    while server.clients_seen < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send(known_pose)
    server.close()
    text = client.text()
    with BvhRecorder(tmp_path, skeleton, fps=30) as recorder:
        recorder.send(known_pose)
    hierarchy, _, lines = text.partition("}\n0 ")
    values = ("0 " + lines).splitlines()[0].split()[2:-1]
    streamed = hierarchy + "}\nMOTION\nFrames: 1\nFrame Time: 0.0333333333\n" + " ".join(values) + "\n"
    for source in (streamed, (tmp_path / "p0.bvh").read_text()):
        mocap = bvh.Bvh(source)
        axes = ["Zrotation", "Xrotation", "Yrotation"]
        np.testing.assert_allclose(mocap.frame_joint_channels(0, "LeftArm", axes), [90, 0, 0], atol=1e-6)
        np.testing.assert_allclose(mocap.frame_joint_channels(0, "Head", axes), [0, 0, 90], atol=1e-6)
        np.testing.assert_allclose(mocap.frame_joint_channels(0, "Hips", ["Xposition", "Yposition", "Zposition"]), [-40, 95, 0])


def test_plain_osc_sends_template_space_quaternions(skeleton, known_pose):
    server = PythonOscServer()
    sender = PlainOscSender("127.0.0.1", server.port, skeleton)
    sender.send(known_pose)
    sender.close()
    server.stop()
    joints = next(args for address, args in server.messages if address == "/dyad/p0/joints")
    quats = np.array(joints[1:]).reshape(-1, 4)
    np.testing.assert_allclose(quats[skeleton.index("LeftArm")], [0, 0, S, S], atol=1e-6)
    np.testing.assert_allclose(quats[skeleton.index("Head")], [0, S, 0, S], atol=1e-6)


def test_readme_unreal_conversion_of_template_quaternions():
    """docs/engines.md: template (x, y, z) cm -> Unreal (z, -x, y); quaternion (x, y, z, w) -> (-z, x, -y, w)."""
    axes = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # rows: Unreal X, Y, Z in template terms
    for rotation in Rotation.random(20, random_state=1):
        x, y, z, w = rotation.as_quat()
        unreal = Rotation.from_quat([-z, x, -y, w]).as_matrix()
        np.testing.assert_allclose(unreal, axes @ rotation.as_matrix() @ axes.T, atol=1e-12)
