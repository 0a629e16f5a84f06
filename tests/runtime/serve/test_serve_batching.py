"""Many sessions on one shared learned model, offline: each session's recordings are the bytes the same
session writes alone (ONNX Runtime denoisers, the tiny model's real export), whoever shares its batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.animate.learned_animator import load_learned_animator
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from dyad.runtime.config import SessionConfig
from dyad.runtime.serve.capacity import Capacity
from dyad.runtime.serve.host import AdmissionRefused, SessionHost
from dyad.runtime.serve.session_spec import parse_session_spec
from dyad.runtime.serve.shared_model import SharedModel
from dyad.runtime.session import Session
from session_fixtures import write_dialogue

SECONDS = 2.0
RECORDED = ("p0.bvh", "p1.bvh", "p0_face.csv", "p1_face.csv", "frames.csv")
LEARNED = {"face": "learned", "body": "learned"}


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    return write_dialogue(tmp_path_factory.mktemp("audio") / "dialogue.wav", seconds=SECONDS)


def learned_config(model_dir: Path) -> LearnedConfig:
    return LearnedConfig(model_dir, steps=2, backend="onnx")


def alone(model_dir: Path, wav: Path, seed: int, out: Path, seconds: float = SECONDS) -> Path:
    """The session as `dyad run --offline --wav ... --seed N` runs it: its own animator, no server."""
    config = SessionConfig(offline=True, seed=seed, seconds=seconds, out_dir=out, status_interval_s=0.0)
    animator = load_learned_animator(learned_config(model_dir), config, load_default_skeleton())
    source = WavReplaySource(open_wav_inputs([wav]), block_ms=config.timing.block_ms, seconds=seconds, realtime=False)
    Session(config, source, animator=animator).run()
    return out


def serve(model_dir: Path, out: Path, capacity: float = 16) -> SessionHost:
    base = SessionConfig(offline=True, status_interval_s=0.0)
    model = SharedModel(learned_config(model_dir), base, load_default_skeleton(), LEARNED, gather_ms=20.0)
    return SessionHost(model, Capacity(capacity, "test"), out_root=out)


def same_recordings(a: Path, b: Path) -> None:
    for name in RECORDED:
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs between {a} and {b}"


@pytest.mark.parametrize("count", [2, 4])
def test_sessions_in_one_server_record_what_each_records_alone(model_dir, wav, tmp_path, count):
    host = serve(model_dir, tmp_path / "served")
    base = SessionConfig(offline=True)
    try:
        hosted = [host.create(parse_session_spec({"wav": [str(wav)], "offline": True, "seed": seed, "seconds": SECONDS}, base))
                  for seed in range(count)]  # fmt: skip
        for h in hosted:
            host.wait(h.id, 120)
            assert h.state == "ended", h.error
        batches = [r.dyads for r in host.model.batcher.records]
    finally:
        host.close()
    assert max(batches) > 1, "the sessions never shared a batch: nothing was tested"
    for seed, h in enumerate(hosted):
        same_recordings(h.out_dir, alone(model_dir, wav, seed, tmp_path / f"alone{seed}"))
    assert len({(h.out_dir / "p0.bvh").read_bytes() for h in hosted}) == count  # per-session noise: seeds differ


def test_a_session_ending_or_crashing_leaves_the_others_untouched(model_dir, wav, tmp_path):
    host = serve(model_dir, tmp_path / "served")
    base = SessionConfig(offline=True)
    try:
        # Fault injection (a source cannot be made to fail on demand otherwise): the third session's input
        # raises after 20 chunks, mid-session, while the others share its batches.
        opened = host._open_input

        def failing_input(spec, config):
            source, inputs, extra = opened(spec, config)
            chunks = source.iter_chunks

            def failing():
                for n, chunk in enumerate(chunks()):
                    if n == 20:
                        raise OSError("the input vanished")
                    yield chunk

            source.iter_chunks = failing
            return source, inputs, extra

        keep = host.create(parse_session_spec({"wav": [str(wav)], "offline": True, "seed": 7, "seconds": SECONDS}, base))
        short = host.create(parse_session_spec({"wav": [str(wav)], "offline": True, "seed": 8, "seconds": 0.5}, base))
        host._open_input = failing_input
        crash = host.create(parse_session_spec({"wav": [str(wav)], "offline": True, "seed": 9, "seconds": SECONDS}, base))
        host._open_input = opened
        for h in (keep, short, crash):
            host.wait(h.id, 120)
    finally:
        host.close()
    assert (keep.state, short.state, crash.state) == ("ended", "ended", "failed")
    assert "the input vanished" in crash.error
    same_recordings(keep.out_dir, alone(model_dir, wav, 7, tmp_path / "alone7"))
    same_recordings(short.out_dir, alone(model_dir, wav, 8, tmp_path / "alone8", seconds=0.5))


def test_admission_refuses_the_session_over_capacity(model_dir, wav, tmp_path):
    host = serve(model_dir, tmp_path / "served", capacity=1)
    base = SessionConfig(offline=False)
    try:
        first = host.create(parse_session_spec({"wav": [str(wav)], "seconds": SECONDS}, base))
        with pytest.raises(AdmissionRefused, match="capacity of 1 sessions"):
            host.create(parse_session_spec({"wav": [str(wav)], "seconds": SECONDS}, base))
        assert host.refused == 1 and len(host.sessions()) == 1
        host.end(first.id)
        assert first.state == "ended" and (first.out_dir / "session.json").is_file()
        second = host.create(parse_session_spec({"wav": [str(wav)], "seconds": 0.5}, base))  # a slot is free again
        host.wait(second.id, 60)
        assert second.state == "ended"
    finally:
        host.close()


def test_a_network_voice_session_gets_its_own_port_and_sends_frames_back(model_dir, tmp_path):
    import asyncio

    from dyad.runtime.io.voice_client import send_ws
    from session_fixtures import dialogue

    host = serve(model_dir, tmp_path / "served")
    try:
        hosted = host.create(parse_session_spec({"voices": "network", "seconds": 1.5, "seed": 3}, SessionConfig()))
        url = hosted.inputs["websocket"]
        assert url.startswith("ws://127.0.0.1:") and hosted.inputs["whip"].endswith("/whip")
        voices = dialogue(2.0)
        result = asyncio.run(send_ws(f"{url}?poses=1", {0: voices[:, 0], 1: voices[:, 1]}, 16000))
        host.wait(hosted.id, 30)
    finally:
        host.close()
    assert hosted.state == "ended", hosted.error
    assert result.meta is not None and len(result.frames) >= 30  # frames came back to the peer over its own socket
    summary = (hosted.out_dir / "session.json").read_text()
    assert '"network"' in summary and hosted.session.report().frames == 45
