"""Crosstalk separation on a synthetic two-person dialogue (espeak-ng voices, simulated room).

The separator runs on the mixture while non-adapting twins replay the very
same per-block filters on each component (person 0 only, person 1 only,
sensor noise). The filters are linear for fixed weights, so the twins'
outputs are exactly what became of each component inside the mixture output,
which gives the signal-to-interference ratio before and after separation.
"""

from __future__ import annotations


import numpy as np
import pytest

from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk
from dyad.runtime.config import SeparationConfig
from dyad.runtime.frontend.separation import CrosstalkCanceller, StreamingSeparator
from speech_fixtures import espeak_available, room_filter, synthesize

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")

SR = 16000
BLOCK = 256
VOICES = ("en-us+m3", "en-gb+f4")
# (person, text, gap after the previous turn in seconds; negative = overlap)
TURNS = (
    (1, "Hi, good morning.", 0.2),
    (0, "Good morning! How was your trip to the mountains last week?", 0.3),
    (1, "It was wonderful. The weather stayed clear and we walked every day.", 0.25),
    (0, "That sounds great. Did you see any wildlife?", -0.6),
    (1, "We saw deer near the lake, and an eagle above the valley.", 0.2),
    (0, "Amazing. I should really go there next summer.", -0.8),
    (1, "You should! I can show you the best trails.", -0.5),
)
CONVERGENCE_S = 3.0


def _dialogue() -> np.ndarray:
    """Dry voices [2, n] at equal speech level (-20 dBFS RMS), turn-taking with overlaps."""
    clips = [(person, synthesize(text, VOICES[person], SR)) for person, text, _ in TURNS]
    starts, end = [], 0
    for (_, clip), (_, _, gap) in zip(clips, TURNS):
        start = max(0, end + int(gap * SR))
        starts.append(start)
        end = max(end, start + clip.shape[0])
    n = end + int(0.3 * SR)
    n += -n % BLOCK
    voices = np.zeros((2, n), np.float32)
    for (person, clip), start in zip(clips, starts):
        voices[person, start : start + clip.shape[0]] += clip * (0.1 / np.sqrt(np.mean(clip**2)))
    return voices


@pytest.fixture(scope="module")
def mixture() -> dict[str, np.ndarray]:
    voices = _dialogue()
    # Each mic: its own person dry, the partner delayed, attenuated and room-filtered
    # (different level, delay and room per direction), plus independent sensor noise.
    person0 = np.stack([voices[0], room_filter(voices[0], 72, -11.0, 0.15, seed=2)], axis=1)
    person1 = np.stack([room_filter(voices[1], 48, -7.0, 0.2, seed=1), voices[1]], axis=1)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(person0.shape) * 10 ** (-65 / 20)).astype(np.float32)
    return {"person0": person0, "person1": person1, "noise": noise, "mix": person0 + person1 + noise}


@pytest.fixture(scope="module")
def separated(mixture) -> dict[str, np.ndarray]:
    separator = StreamingSeparator()
    names = ("person0", "person1", "noise")
    twins = {name: CrosstalkCanceller(separator.config, adapt=False) for name in names}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in (*names, "mix")}
    for start in range(0, mixture["mix"].shape[0], BLOCK):
        weights = separator.canceller.weights  # the filters the mixture block will see
        for name, twin in twins.items():
            twin.weights = weights
            outputs[name].append(twin.process_block(mixture[name][start : start + BLOCK]))
        outputs["mix"].append(separator.push(mixture["mix"][start : start + BLOCK]))
    result = {name: np.concatenate(parts) for name, parts in outputs.items()}
    result["stats"] = separator.canceller.stats
    return result


def _power(x: np.ndarray) -> float:
    return float(np.mean(x[int(CONVERGENCE_S * SR) :].astype(np.float64) ** 2))


def _sir_db(target: np.ndarray, interference: np.ndarray) -> float:
    return 10.0 * np.log10(_power(target) / _power(interference))


def test_sir_improves_by_10_db_on_both_channels(mixture, separated, record_property):
    duration = mixture["mix"].shape[0] / SR
    assert 15.0 <= duration <= 21.0
    print(f"\ndialogue {duration:.1f} s, SIR measured after {CONVERGENCE_S:.0f} s; {separated['stats']}")
    for channel in (0, 1):
        own, partner = ("person0", "person1") if channel == 0 else ("person1", "person0")
        sir_in = _sir_db(mixture[own][:, channel], mixture[partner][:, channel])
        sir_out = _sir_db(separated[own][:, channel], separated[partner][:, channel])
        print(f"channel {channel}: SIR in {sir_in:5.1f} dB, out {sir_out:5.1f} dB, "
              f"improvement {sir_out - sir_in:5.1f} dB")
        record_property(f"sir_in_db_ch{channel}", round(sir_in, 2))
        record_property(f"sir_out_db_ch{channel}", round(sir_out, 2))
        assert sir_out - sir_in >= 10.0, f"channel {channel}: only {sir_out - sir_in:.1f} dB"
    adapted = separated["stats"].adapted
    assert min(adapted) > 0 and separated["stats"].double_talk > 0


def test_output_is_linear_in_input_for_fixed_weights(separated):
    recombined = separated["person0"] + separated["person1"] + separated["noise"]
    np.testing.assert_allclose(separated["mix"], recombined, atol=1e-5)


@pytest.mark.slow
def test_output_stays_aligned_with_input(mixture, separated):
    # The separated channel must line up with the dry voice it carries: the
    # cross-correlation peaks at lag 0.
    for channel, own in ((0, "person0"), (1, "person1")):
        out = separated["mix"][:, channel].astype(np.float64)
        ref = mixture[own][:, channel].astype(np.float64)
        lags = np.arange(-300, 301)
        corr = [np.dot(out[max(0, lag) : out.size + min(0, lag)], ref[max(0, -lag) : ref.size - max(0, lag)])
                for lag in lags]
        assert lags[int(np.argmax(corr))] == 0


def test_silent_partner_passes_own_channel_sample_exact():
    rng = np.random.default_rng(3)
    audio = np.zeros((5000, 2), np.float32)
    audio[:, 0] = rng.standard_normal(5000) * 0.1  # no reference for channel 0: nothing to cancel
    separator = StreamingSeparator()
    out = np.concatenate([separator.push(audio[i : i + 777]) for i in range(0, 5000, 777)])
    assert out.shape == (5000 // BLOCK * BLOCK, 2)
    assert separator.pending == 5000 % BLOCK
    np.testing.assert_array_equal(out[:, 0], audio[: out.shape[0], 0])
    np.testing.assert_array_equal(out[:, 1], 0.0)


def test_chunk_size_does_not_change_output(mixture):
    audio = mixture["mix"][: 5 * SR + 123]
    whole = StreamingSeparator().push(audio)
    separator = StreamingSeparator()
    rng = np.random.default_rng(7)
    parts, pos = [], 0
    while pos < audio.shape[0]:
        size = int(rng.integers(0, 1500))
        parts.append(separator.push(audio[pos : pos + size]))
        pos += size
    chunked = np.concatenate(parts)
    assert chunked.shape == whole.shape == (audio.shape[0] // BLOCK * BLOCK, 2)
    np.testing.assert_array_equal(chunked, whole)


def test_bypass_passes_audio_unchanged_with_same_blocking(mixture):
    audio = mixture["mix"][: 2 * SR + 50]
    separator = StreamingSeparator(SeparationConfig(enabled=False))
    out = np.concatenate([separator.push(audio[i : i + 300]) for i in range(0, audio.shape[0], 300)])
    assert out.shape[0] == audio.shape[0] // BLOCK * BLOCK
    assert separator.pending == audio.shape[0] % BLOCK
    np.testing.assert_array_equal(out, audio[: out.shape[0]])


def test_push_chunk_keeps_absolute_clock():
    separator = StreamingSeparator(SeparationConfig(enabled=False))
    audio = np.random.default_rng(1).standard_normal((400, 2)).astype(np.float32)
    first = separator.push_chunk(AudioChunk(1000, audio[:200], SR, capture_ns=5_000_000_000))
    assert first is None and separator.pending == 200
    second = separator.push_chunk(AudioChunk(1200, audio[200:], SR, capture_ns=5_012_500_000))
    assert second.start_sample == 1000 and second.frames == BLOCK
    assert second.capture_ns == 5_000_000_000
    np.testing.assert_array_equal(second.samples, audio[:BLOCK])
    with pytest.raises(DyadError, match="not contiguous"):
        separator.push_chunk(AudioChunk(1500, audio, SR, capture_ns=0))


@pytest.mark.parametrize(
    "field, value",
    [
        ("block", 8),
        ("filter_len", 1000),
        ("step_size", 0.0),
        ("step_size", 2.5),
        ("regularisation", -1.0),
        ("coherence_threshold", 1.5),
        ("level_smoothing", 1.0),
        ("silence_dbfs", 3.0),
        ("sample_rate", 0),
    ],
)
def test_config_validation_names_the_field(field, value):
    with pytest.raises(DyadError) as info:
        StreamingSeparator(SeparationConfig(**{field: value}))
    message = str(info.value)
    assert f"separation.{field}" in message and "\n" not in message


def test_bad_shapes_are_reported():
    with pytest.raises(DyadError, match=r"\[n, 2\]"):
        StreamingSeparator().push(np.zeros((10, 3), np.float32))
    canceller = CrosstalkCanceller()
    with pytest.raises(DyadError, match="weights"):
        canceller.weights = np.zeros((2, 3, 4), np.complex128)
