"""Per-person voice activity: Silero VAD run directly with ONNX Runtime.

Both people go through one InferenceSession call per window (batch of 2),
each with its own recurrent state. The model at 16 kHz takes 512 new samples
per call, preceded by the last 64 samples of the previous window as context,
and a state tensor [2, batch, 128] that it returns updated.

Windows sit on the absolute sample clock: window w covers samples
[start + w*512, start + (w+1)*512), where `start` is the clock origin given to
`reset` (0 by default). Samples that do not fill a window wait for the next push.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dyad.runtime.errors import DyadError
from dyad.runtime.frames import frozen_array

WINDOW = 512  # samples per model call at 16 kHz (fixed by the model)
CONTEXT = 64  # samples of the previous window prepended to each call
SAMPLE_RATE = 16000
PEOPLE = 2
_STATE_SHAPE = (2, PEOPLE, 128)
_MODEL_FILE = "silero_vad.onnx"


@dataclass(frozen=True)
class VadConfig:
    model_path: str | None = None  # None: the model shipped in the silero_vad package
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    sample_rate: int = SAMPLE_RATE
    threads: int = 1  # the model is tiny: more threads cost more than they save

    def validate(self) -> VadConfig:
        if self.sample_rate != SAMPLE_RATE:
            raise DyadError(f"vad.sample_rate = {self.sample_rate} unsupported; the VAD runs at {SAMPLE_RATE} Hz")
        if not self.providers:
            raise DyadError("vad.providers is empty; name at least one ONNX Runtime provider")
        if self.threads < 1:
            raise DyadError(f"vad.threads = {self.threads} must be >= 1")
        return self


@dataclass(frozen=True)
class VadWindows:
    """Speech probabilities for the windows completed by one push."""

    starts: np.ndarray  # int64 [m]: absolute first sample of each window
    probs: np.ndarray  # float32 [m, 2]: person 0, person 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", frozen_array(self.starts, np.int64))
        object.__setattr__(self, "probs", frozen_array(self.probs.reshape(-1, PEOPLE)))

    def __len__(self) -> int:
        return int(self.starts.shape[0])


def packaged_model_path() -> Path:
    """The Silero ONNX file inside the installed silero_vad package.

    Located with find_spec rather than importlib.resources.files: importing
    the package runs its __init__, which imports torch (seconds) and calls
    torch.set_num_threads(1) for the whole process.
    """
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise DyadError("the silero_vad package is not installed; install silero-vad or set vad.model_path")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL_FILE


def _open_session(path: Path, config: VadConfig):
    import onnxruntime as ort

    if not path.is_file():
        raise DyadError(f"VAD model not found: {path}")
    available = set(ort.get_available_providers())
    providers = [p for p in config.providers if p in available]
    if not providers:
        raise DyadError(f"none of vad.providers {list(config.providers)} is available in ONNX Runtime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises several types for unreadable models
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DyadError(f"cannot load VAD model {path}: {reason}") from None
    names = {i.name for i in session.get_inputs()}
    if names != {"input", "state", "sr"} or len(session.get_outputs()) != 2:
        raise DyadError(f"VAD model {path} is not a Silero VAD v5 model (inputs {sorted(names)})")
    return session


class DyadVad:
    """Streaming Silero VAD for both people, one batched model call per window."""

    def __init__(self, config: VadConfig | None = None) -> None:
        self.config = (config or VadConfig()).validate()
        self.model_path = Path(self.config.model_path) if self.config.model_path else packaged_model_path()
        self._session = _open_session(self.model_path, self.config)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._frame = np.zeros((PEOPLE, CONTEXT + WINDOW), np.float32)  # [context | window]
        self._pending = np.zeros((WINDOW, PEOPLE), np.float32)
        self.reset()

    def reset(self, start_sample: int = 0) -> None:
        """Forget all audio and state; the next pushed sample is `start_sample`."""
        self._state = np.zeros(_STATE_SHAPE, np.float32)
        self._frame[...] = 0.0
        self._fill = 0
        self._next_start = start_sample

    @property
    def pending(self) -> int:
        return self._fill

    def push(self, samples: np.ndarray) -> VadWindows:
        """Append [n, 2] samples; return probabilities of every window completed."""
        if samples.ndim != 2 or samples.shape[1] != PEOPLE:
            raise DyadError(f"VAD input must be [n, 2], got shape {samples.shape}")
        starts: list[int] = []
        probs: list[np.ndarray] = []
        pos, n = 0, samples.shape[0]
        while pos < n:
            take = min(WINDOW - self._fill, n - pos)
            self._pending[self._fill : self._fill + take] = samples[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == WINDOW:
                starts.append(self._next_start)
                probs.append(self._run_window())
                self._next_start += WINDOW
                self._fill = 0
        if not probs:
            return VadWindows(np.zeros(0, np.int64), np.zeros((0, PEOPLE), np.float32))
        return VadWindows(np.array(starts, np.int64), np.stack(probs))

    def _run_window(self) -> np.ndarray:
        # The context is the tail of the previous window's raw samples.
        self._frame[:, :CONTEXT] = self._frame[:, WINDOW:]
        self._frame[:, CONTEXT:] = self._pending.T
        out, state = self._session.run(None, {"input": self._frame, "state": self._state, "sr": self._sr})
        self._state = state
        return np.asarray(out, np.float32).reshape(PEOPLE)
