"""Live microphones through PortAudio (python-sounddevice).

Two layouts:
  * one device with >= 2 input channels: `channel_pair` picks person 0's and
    person 1's channels (default the first two);
  * two devices, one mono stream each (first channel of each): their samples
    are paired by sample index. Two devices run on two crystals, so one drifts
    ahead of the other; when one device's unpaired audio leads the other's by
    more than `max_skew_ms`, its oldest unpaired samples are dropped (counted
    as `skew_dropped_samples`) so both are back in step.

The PortAudio callback only stamps the capture time, copies its buffer into
an AudioChunk and puts it into a bounded ChunkQueue (one per device; full
queue: the newest chunk is dropped). Everything else - sanitising,
resampling, pairing - happens in `read()` on the consumer's thread.

Capture time: PortAudio's `inputBufferAdcTime` is on the stream's own clock;
`currentTime` is "now" on that clock, so `now_ns - (currentTime - adc)` puts
the ADC time on our monotonic clock. When the host API gives no usable ADC
time (0, or not in the past), the fallback is arrival time minus the block's
duration.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dyad.runtime.audio_source import SESSION_CHANNELS, ChunkQueue
from dyad.runtime.clock import Clock, MonotonicClock
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk
from dyad.runtime.resample import ChunkResampler

log = logging.getLogger(__name__)

DeviceSpec = int | str


def _sounddevice():
    """Import sounddevice lazily: importing it loads PortAudio and reads the ALSA config."""
    try:
        import sounddevice
    except OSError as exc:
        raise DyadError(f"PortAudio is not available ({exc}); install libportaudio2") from None
    return sounddevice


def list_input_devices() -> list[dict]:
    """Every PortAudio device that can capture, as plain dicts."""
    sd = _sounddevice()
    hostapis = sd.query_hostapis()
    try:
        default_in = sd.default.device[0]
    except Exception:  # noqa: BLE001 - no default device is not an error here
        default_in = -1
    rows = []
    for dev in sd.query_devices():
        if dev["max_input_channels"] < 1:
            continue
        rows.append(
            {
                "index": int(dev["index"]),
                "name": str(dev["name"]),
                "hostapi": str(hostapis[dev["hostapi"]]["name"]),
                "input_channels": int(dev["max_input_channels"]),
                "default_samplerate": float(dev["default_samplerate"]),
                "default": int(dev["index"]) == default_in,
            }
        )
    return rows


def format_device_table(devices: list[dict] | None = None) -> str:
    """A fixed-width table of input devices for `dyad devices`."""
    devices = list_input_devices() if devices is None else devices
    if not devices:
        return "no audio input devices found"
    lines = [f"{'idx':>4}  {'in':>3}  {'rate':>7}  {'host API':<12}  name"]
    for d in devices:
        mark = " *" if d.get("default") else ""
        lines.append(
            f"{d['index']:>4}  {d['input_channels']:>3}  {d['default_samplerate']:>7.0f}  "
            f"{d['hostapi'][:12]:<12}  {d['name']}{mark}"
        )
    return "\n".join(lines)


def capture_ns_from_time_info(now_ns: int, adc_s: float, current_s: float, frames: int, rate: int) -> int:
    """Map PortAudio's ADC time into our clock; fall back to arrival minus block duration."""
    if adc_s > 0 and current_s > 0:
        age_s = current_s - adc_s
        # An ADC time in the future or seconds old is a host-API quirk, not a real latency.
        if 0.0 <= age_s < 1.0:
            return now_ns - int(age_s * 1e9)
    return now_ns - frames * 1_000_000_000 // rate


@dataclass(frozen=True)
class _Device:
    index: int
    name: str
    channels: tuple[int, ...]  # which device channels this stream hands on
    rate: int  # the rate the stream opens at


class _StreamState:
    """What one callback keeps between calls (touched by the PortAudio thread only)."""

    def __init__(self) -> None:
        self.next_index = 0
        self.last_capture_ns = -1
        self.overflows = 0
        self.callbacks = 0


class MicrophoneSource:
    """Captures two people from one 2+-channel device or from two mono devices."""

    channels = SESSION_CHANNELS

    def __init__(
        self,
        devices: DeviceSpec | Sequence[DeviceSpec] | None = None,
        *,
        sample_rate: int = 16000,
        channel_pair: tuple[int, int] = (0, 1),
        block_ms: float = 10.0,
        latency: float | str = "low",
        max_queue_ms: float = 2000.0,
        max_skew_ms: float = 200.0,
        resample_quality: str = "HQ",
        device_rate: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.sample_rate = int(sample_rate)
        self.device_rate = device_rate
        self.block_ms = block_ms
        self.latency = latency
        self.clock: Clock = clock or MonotonicClock()
        specs = _as_specs(devices)
        self.devices = self._resolve(specs, channel_pair)
        self._wakeup = threading.Event()
        per_queue = max(1, round(max_queue_ms / block_ms))
        self._queues = [ChunkQueue(per_queue, self._wakeup) for _ in self.devices]
        self._states = [_StreamState() for _ in self.devices]
        self._lanes = [
            ChunkResampler(d.rate, self.sample_rate, len(d.channels), resample_quality) for d in self.devices
        ]
        skew = round(max_skew_ms * self.sample_rate / 1000)
        self._pairer = Pairer(self.sample_rate, skew) if len(self.devices) == 2 else None
        self._ready: deque[AudioChunk] = deque()
        self._streams: list = []

    # --- device resolution (errors here, before anything opens) ---------------------------

    def _resolve(self, specs: list[DeviceSpec | None], pair: tuple[int, int]) -> list[_Device]:
        sd = _sounddevice()
        if len(specs) == 1:
            info = _find_device(sd, specs[0])
            need = max(pair) + 1
            if pair[0] == pair[1] or min(pair) < 0:
                raise DyadError(f"channel pair {pair} must name two different channels")
            if info["max_input_channels"] < need:
                raise DyadError(
                    f"input device '{info['name']}' has {info['max_input_channels']} input channel(s); "
                    f"channels {pair[0]},{pair[1]} for two people need {need} (or give two devices)"
                )
            rate = _pick_rate(sd, info, need, self.sample_rate, self.device_rate)
            return [_Device(int(info["index"]), info["name"], tuple(pair), rate)]
        infos = [_find_device(sd, s) for s in specs]
        if infos[0]["index"] == infos[1]["index"]:
            raise DyadError(
                f"both people's input resolved to the same device '{infos[0]['name']}'; "
                "give one 2-channel device or two different devices"
            )
        rates = [_pick_rate(sd, info, 1, self.sample_rate, self.device_rate) for info in infos]
        return [_Device(int(i["index"]), i["name"], (0,), r) for i, r in zip(infos, rates, strict=True)]

    # --- streams ------------------------------------------------------------------------

    def _open_stream(self, lane: int):
        """Create (not start) the PortAudio stream for one device: the one place streams are made."""
        sd = _sounddevice()
        dev = self.devices[lane]
        open_channels = max(dev.channels) + 1
        pick = _channel_picker(dev.channels)
        queue, state, clock, rate = self._queues[lane], self._states[lane], self.clock, dev.rate

        def callback(indata: np.ndarray, frames: int, time_info, status) -> None:
            now_ns = clock.now_ns()
            state.callbacks += 1
            if status.input_overflow:
                state.overflows += 1
            capture = capture_ns_from_time_info(
                now_ns, time_info.inputBufferAdcTime, time_info.currentTime, frames, rate
            )
            # Keep capture times strictly increasing even when the host API's estimate jitters.
            capture = max(capture, state.last_capture_ns + 1)
            state.last_capture_ns = capture
            queue.put(AudioChunk(state.next_index, pick(indata), rate, capture))
            state.next_index += frames

        try:
            return sd.InputStream(
                device=dev.index,
                channels=open_channels,
                samplerate=dev.rate,
                blocksize=max(1, round(dev.rate * self.block_ms / 1000)),
                dtype="float32",
                latency=self.latency,
                callback=callback,
            )
        except (sd.PortAudioError, ValueError) as exc:
            raise DyadError(f"input device '{dev.name}' could not be opened: {_one_line(str(exc))}") from None

    def start(self) -> None:
        if self._streams:
            return
        try:
            for lane in range(len(self.devices)):
                self._streams.append(self._open_stream(lane))
            for stream in self._streams:
                stream.start()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        streams, self._streams = self._streams, []
        for stream in streams:
            stream.abort(ignore_errors=True)  # capture has nothing to drain; stop() would wait
            stream.close(ignore_errors=True)

    @property
    def finished(self) -> bool:
        return False  # a microphone never runs out

    # --- consumer side ------------------------------------------------------------------

    def read(self, timeout_s: float) -> AudioChunk | None:
        deadline = self.clock.now_ns() + int(max(timeout_s, 0.0) * 1e9)
        while True:
            if self._ready:
                return self._ready.popleft()
            # Clear before looking, so a put that lands after the look still wakes the wait.
            self._wakeup.clear()
            item = self._next_item()
            if item is None:
                remaining_s = (deadline - self.clock.now_ns()) / 1e9
                if remaining_s <= 0:
                    return None
                self._wakeup.wait(remaining_s)
                continue
            self._consume(*item)

    def _next_item(self) -> tuple[int, AudioChunk] | None:
        """Take from the device that is behind first, so pairing never sees false skew."""
        order = range(len(self._queues))
        if self._pairer is not None:
            order = sorted(order, key=self._pairer.pending)
        for lane in order:
            chunk = self._queues[lane].get(0)
            if chunk is not None:
                return lane, chunk
        return None

    def _consume(self, lane: int, chunk: AudioChunk) -> None:
        for out in self._lanes[lane].push(chunk):
            if self._pairer is None:
                self._ready.append(out)
                continue
            self._pairer.push(lane, out)
            paired = self._pairer.pop()
            if paired is not None:
                self._ready.append(paired)

    def stats(self) -> dict:
        # Queue drops are counted at the device rate; report them at the session rate.
        # With two devices a drop loses one person's channel only, yet counts the same.
        dropped = sum(
            lane.to_out_samples(q.dropped_samples) for lane, q in zip(self._lanes, self._queues, strict=True)
        )
        rates = tuple(d.rate for d in self.devices if d.rate != self.sample_rate)
        return {
            "dropped_samples": dropped,
            "dropped_chunks": sum(q.dropped_chunks for q in self._queues),
            "skew_dropped_samples": self._pairer.skew_dropped if self._pairer else 0,
            "sanitised_samples": sum(lane.sanitised for lane in self._lanes),
            "clipped_samples": sum(lane.clipped for lane in self._lanes),
            "overflows": sum(s.overflows for s in self._states),
            "callbacks": sum(s.callbacks for s in self._states),
            "resampled_from": rates or None,
            "devices": [d.name for d in self.devices],
        }


class Pairer:
    """Pairs two mono session-rate chunk streams sample by sample into [n, 2] chunks.

    Each side keeps its unpaired samples; a gap in a side's start_sample (a
    dropped chunk) is filled with zeros there, so the other person's audio
    stays aligned. When one side leads by more than `max_skew` samples (its
    device clock runs fast, or the other device stalled), the leading side's
    oldest unpaired samples are dropped until both sides are level again.
    Output is contiguous from start_sample 0; capture_ns is the later of the
    two sides' capture times, i.e. when both samples existed.
    """

    def __init__(self, rate: int, max_skew: int) -> None:
        self.rate = rate
        self.max_skew = max_skew
        self.skew_dropped = 0
        self._buf = [np.zeros(0, np.float32), np.zeros(0, np.float32)]
        self._end = [0, 0]  # next expected start_sample per side
        self._anchor = [(0, 0), (0, 0)]  # (start_sample, capture_ns) of each side's newest chunk
        self._out_pos = 0

    def pending(self, side: int) -> int:
        return int(self._buf[side].shape[0])

    def push(self, side: int, chunk: AudioChunk) -> None:
        gap = max(0, chunk.start_sample - self._end[side])
        parts = [self._buf[side], np.zeros(gap, np.float32), chunk.samples[:, 0]]
        self._buf[side] = np.concatenate(parts)
        self._end[side] = chunk.end_sample
        self._anchor[side] = (chunk.start_sample, chunk.capture_ns)
        lead = self.pending(side) - self.pending(1 - side)
        if lead > self.max_skew:
            self._buf[side] = self._buf[side][lead:]
            self.skew_dropped += lead

    def pop(self) -> AudioChunk | None:
        n = min(self.pending(0), self.pending(1))
        if n == 0:
            return None
        capture = max(self._head_capture(0), self._head_capture(1))
        samples = np.stack([self._buf[0][:n], self._buf[1][:n]], axis=1)
        self._buf = [self._buf[0][n:], self._buf[1][n:]]
        chunk = AudioChunk(self._out_pos, samples, self.rate, capture)
        self._out_pos += n
        return chunk

    def _head_capture(self, side: int) -> int:
        head_index = self._end[side] - self.pending(side)
        anchor_index, anchor_ns = self._anchor[side]
        return anchor_ns + (head_index - anchor_index) * 1_000_000_000 // self.rate


def _as_specs(devices: DeviceSpec | Sequence[DeviceSpec] | None) -> list[DeviceSpec | None]:
    if devices is None or isinstance(devices, (int, str)):
        return [devices]
    specs = list(devices)
    if len(specs) not in (1, 2):
        raise DyadError(f"give one 2-channel input device or two devices, got {len(specs)}: {specs}")
    return specs


def _find_device(sd, spec: DeviceSpec | None) -> dict:
    """Resolve an index, a digit string or a case-insensitive name substring to an input device."""
    devices = sd.query_devices()
    if spec is None:
        try:
            info = sd.query_devices(kind="input")
        except (sd.PortAudioError, ValueError):
            raise DyadError("no default audio input device; name one (see `dyad devices`)") from None
        return dict(info)
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if not 0 <= index < len(devices):
            raise DyadError(f"input device {index} does not exist (see `dyad devices`)")
        info = dict(devices[index])
    else:
        info = _match_name(devices, spec)
    if info["max_input_channels"] < 1:
        raise DyadError(f"device '{info['name']}' has no input channels")
    return info


def _match_name(devices, spec: str) -> dict:
    wanted = spec.strip().lower()
    exact = [dict(d) for d in devices if d["name"].lower() == wanted]
    matches = exact or [dict(d) for d in devices if wanted in d["name"].lower()]
    if not matches:
        raise DyadError(f"no audio device matches '{spec}' (see `dyad devices`)")
    inputs = [d for d in matches if d["max_input_channels"] > 0]
    if not inputs:
        return matches[0]  # the caller reports "no input channels" with its name
    if len(inputs) > 1:
        names = ", ".join(f"'{d['name']}'" for d in inputs)
        log.info("device '%s' matches %s; using '%s'", spec, names, inputs[0]["name"])
    return inputs[0]


def _pick_rate(sd, info: dict, channels: int, session_rate: int, forced: int | None) -> int:
    """`forced`, else the session rate when the device takes it, else the device's default rate.

    Any rate other than the session rate is resampled in `read()`."""
    candidates = [forced] if forced else [session_rate, int(round(info["default_samplerate"]))]
    for rate in dict.fromkeys(candidates):
        try:
            sd.check_input_settings(device=int(info["index"]), channels=channels, dtype="float32", samplerate=rate)
        except (sd.PortAudioError, ValueError):
            continue
        if rate != session_rate:
            log.info("device '%s' does not take %d Hz; capturing at %d Hz and resampling", info["name"], session_rate, rate)
        return rate
    tried = " or ".join(f"{r} Hz" for r in dict.fromkeys(candidates))
    raise DyadError(f"input device '{info['name']}' does not support {tried} with {channels} channel(s)")


def _channel_picker(channels: tuple[int, ...]):
    """A function returning the wanted columns of the callback buffer, as cheaply as possible."""
    lo = channels[0]
    if list(channels) == list(range(lo, lo + len(channels))):
        return lambda indata: indata[:, lo : lo + len(channels)]  # a view; AudioChunk copies it
    cols = list(channels)
    return lambda indata: indata[:, cols]


def _one_line(text: str) -> str:
    return " ".join(text.split())
