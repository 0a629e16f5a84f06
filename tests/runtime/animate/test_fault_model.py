"""A model exception and a GPU out-of-memory inside a hop: fallback frames, counted, the next hop runs fewer steps.

There is no GPU on the test machine, so the out-of-memory is a mock: the wrapped
generator raises the real exception class `torch.cuda.OutOfMemoryError` (which
exists in CPU builds too) exactly where a CUDA allocation would fail, inside
the hop's sampling call. Everything around it (scheduler, learned animator,
step policy, emitter, recorders) is the real code.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.config import SessionConfig, TimingConfig
from dyad.runtime.animate.learned_animator import load_learned_animator
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.session import Session
from dyad.runtime.animate.step_policy import StepPolicy
from dyad.runtime.audio.wav_source import WavReplaySource, open_wav_inputs
from model_fixtures import tiny_model_dir
from session_fixtures import write_dialogue

SKELETON = load_default_skeleton()


class FailingGenerator:
    """Wraps the real generator; raises the given errors on the given call numbers (0-based)."""

    def __init__(self, inner, failures: dict[int, BaseException]) -> None:
        self.inner = inner
        self.failures = failures
        self.steps: list[int] = []  # steps asked for, per call

    def generate(self, inputs, steps, seed):
        call = len(self.steps)
        self.steps.append(steps)
        if call in self.failures:
            raise self.failures[call]
        return self.inner.generate(inputs, steps, seed)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")


def test_model_exception_and_gpu_oom_fall_back_count_and_lower_the_steps(model_dir, tmp_path):
    timing = TimingConfig(hop_frames=2, budget_ms=150.0)  # two frames per hop: a failed hop is two fallback frames
    config = SessionConfig(timing=timing, offline=True, seconds=2.0, status_interval_s=0.0, out_dir=tmp_path / "out")
    animator = load_learned_animator(LearnedConfig(model_dir, steps=4), config, SKELETON)
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated: no GPU here)")
    animator.generator = FailingGenerator(animator.generator, {4: oom, 9: RuntimeError("denoiser produced garbage")})
    wav = write_dialogue(tmp_path / "d.wav", seconds=2.0)
    source = WavReplaySource(open_wav_inputs([wav]), seconds=2.0, realtime=False)
    result = Session(config, source, animator=animator, keep_frames=True).run()

    assert [b.index for b in result.bundles] == list(range(60))  # no index lost or repeated
    fallback = [b.index for b in result.bundles if b.fallback]
    assert fallback == [8, 9, 18, 19]  # exactly the two failed hops (2 frames each, hop 0 is frames 0-1)
    counters = result.summary["counters"]
    assert counters["animator_errors"] == 2 and counters["animator_out_of_memory"] == 1
    assert counters["fallback_hop_frames"] == 4
    steps = animator.generator.steps
    assert steps[:5] == [4] * 5 and steps[5:10] == [2] * 5 and set(steps[10:]) == {1}  # retried with fewer steps
    report = result.summary["animator_report"]
    assert report["counters"] == {"hop_failures_out_of_memory": 1, "hop_failures": 1}
    reasons = [d["reason"] for d in report["steps"]["after_failures"]]
    assert reasons == ["hop at frame 8 failed: out of memory", "hop at frame 18 failed: RuntimeError"]
    assert all(math.isfinite(float(b.people[0].face.sum())) for b in result.bundles)


def test_a_failure_lowers_a_live_policy_and_holds_it_down(model_dir):
    live = SessionConfig(status_interval_s=0.0)
    animator = load_learned_animator(LearnedConfig(model_dir, steps=8), live, SKELETON)
    assert isinstance(animator.policy, StepPolicy) and animator.steps == 8
    animator.on_failure(30, torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)"))
    assert animator.steps == 4
    decision = animator.report()["steps"]["decisions"][-1]
    assert decision["steps_from"] == 8 and decision["steps_to"] == 4 and "out of memory" in decision["reason"]
    for hop in range(59):  # calm, fast hops: no raise before `patience` (60) hops have passed
        animator.policy.observe(32 + 2 * hop, 0.1)
    assert animator.steps == 4
    animator.policy.observe(32 + 2 * 59, 0.1)
    assert animator.steps == 8  # then the steps come back
