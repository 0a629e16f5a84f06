"""The server's model: loaded, checked and warmed up once; each session gets its own animator on it.

A session's `BatchedLearnedAnimator` is a `LearnedAnimator` with its own seed, step policy,
mel normaliser, placement and counters (nothing of one session leaks into another), whose
sampling goes through the shared `DenoiseBatcher`. Which parts run learned follows the
model folder's `parts` or the server's --face-animator/--body-animator, as in `dyad run`.
"""

from __future__ import annotations


from dyad.models.skeleton import Skeleton
from dyad.runtime.animate.animator import Animator
from dyad.runtime.animate.learned_animator import LearnedAnimator, _seed, load_learned_animator
from dyad.runtime.animate.learned_config import LearnedConfig
from dyad.runtime.animate.partwise import PartwiseAnimator
from dyad.runtime.animate.procedural import ProceduralAnimator
from dyad.runtime.animate.step_policy import StepPolicy
from dyad.runtime.config import SessionConfig
from dyad.runtime.frames import AnimationWindow
from dyad.runtime.serve.batcher import DenoiseBatcher


class BatchedLearnedAnimator(LearnedAnimator):
    """One session's learned animator: inputs and poses here, sampling in the shared batch."""

    def __init__(self, batcher: DenoiseBatcher, template: LearnedAnimator, config: LearnedConfig, fps: int, seed: int,
                 policy: StepPolicy | None) -> None:  # fmt: skip
        super().__init__(template.models, template.skeleton, config, fps, seed, template.generator.denoisers, policy)
        self.batcher = batcher

    def _animate(self, window: AnimationWindow, steps: int):
        inputs = self._inputs(window, normalize=True)
        outputs = self.batcher.generate(inputs, steps, _seed(self.seed, window.first_new_frame))
        return self._poses(window, outputs)


class SharedModel:
    def __init__(self, config: LearnedConfig, session: SessionConfig, skeleton: Skeleton, parts: dict[str, str],
                 gather_ms: float = 2.0) -> None:  # fmt: skip
        self.config = config
        self.parts = parts
        self.skeleton = skeleton
        self.template = load_learned_animator(config, session, skeleton)  # every check and one warm-up window, once
        self.batcher = DenoiseBatcher(self.template.generator, config.cpu_threads, gather_ms)
        self._warm_batcher(session)

    def _warm_batcher(self, session: SessionConfig) -> None:
        """The batcher's own thread runs its first calls now, for a session's first (context-less) window and
        every later one: a thread's first torch and ONNX Runtime calls at a new shape are several times slower
        (measured: misses in the first hops of the first session otherwise)."""
        from dyad.runtime.serve.silent_window import silent_inputs

        for context in (0, session.timing.context_frames):
            inputs = silent_inputs(self.template, session, context_frames=context)
            for _ in range(2):
                self.batcher.generate(inputs, self.config.steps, 0)

    @property
    def name(self) -> str:
        return str(self.config.model_dir)

    def animator_for(self, session: SessionConfig, steps: int | None = None, adapt: bool | None = None) -> Animator:
        """A session's own animator on the shared model; `steps`/`adapt` override the server's for this session."""
        config = self.config
        if steps is not None or adapt is not None:
            from dataclasses import replace

            config = replace(config, steps=config.steps if steps is None else steps, adapt=config.adapt if adapt is None else adapt).validate()
        policy = None
        if config.adapt and not session.offline:  # the step adaptation of a single session, per session
            policy = StepPolicy(config.steps, allowance_ms=session.timing.budget_ms - session.minimum_budget_ms())
        learned = BatchedLearnedAnimator(self.batcher, self.template, config, session.timing.fps, session.seed, policy)
        if "procedural" not in self.parts.values():
            return learned
        procedural = ProceduralAnimator(self.skeleton, fps=session.timing.fps, seed=session.seed)
        return PartwiseAnimator(learned, procedural, self.parts["face"], self.parts["body"])

    def close(self) -> None:
        self.batcher.close()
