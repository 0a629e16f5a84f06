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

A stream that dies (device unplugged, driver error, callback error: PortAudio
then reports the stream inactive) is noticed in `read()` within WATCH_S and
reopened with exponential backoff (RETRY_FIRST_S doubling up to RETRY_MAX_S).
Meanwhile `read()` returns nothing and the session sends fallback frames. The
first block after a reopen jumps that device's sample clock forward by the
real time that passed (measured on the capture clock), so later audio keeps
its true capture time and the gap reaches the session as dropped audio. Counted
in `stats()`: stream_failures, reopen_failures, reconnects, outage_ms.

Capture time: PortAudio's `inputBufferAdcTime` is on the stream's own clock;
`currentTime` is "now" on that clock, so `now_ns - (currentTime - adc)` puts
the ADC time on our monotonic clock. When the host API gives no usable ADC
time (0, or not in the past), the fallback is arrival time minus the block's
duration.
"""

from __future__ import annotations

import dataclasses

import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dyad.runtime.audio.source import SESSION_CHANNELS, ChunkQueue
from dyad.runtime.clock import Clock, MonotonicClock
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import AudioChunk
from dyad.runtime.audio.mic_devices import _find_device, _pick_rate, _sounddevice
from dyad.runtime.audio.pairer import Pairer
from dyad.runtime.audio.resample import ChunkResampler

log = logging.getLogger(__name__)

WATCH_S = 0.05  # how often read() checks that the streams are alive
RETRY_FIRST_S = 0.1
RETRY_MAX_S = 5.0

DeviceSpec = int | str


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
        self.end_ns = -1  # capture time just after the newest block's last sample
        self.resumed = False  # set on reopen: the next block jumps the sample clock over the outage
        self.overflows = 0
        self.callbacks = 0


class _Outage:
    """One lane's dead-stream bookkeeping (touched by the consumer thread only)."""

    def __init__(self) -> None:
        self.since_ns: int | None = None  # when the current outage was noticed
        self.retry_at_ns = 0
        self.backoff_s = RETRY_FIRST_S
        self.stream_failures = 0
        self.reopen_failures = 0
        self.reconnects = 0
        self.outage_ns = 0


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
        self._streams: list = []  # one per lane once started; None while a dead lane waits to reopen
        self._outages = [_Outage() for _ in self.devices]
        self._next_watch_ns = 0

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
            if state.resumed:  # first block after a reopen: the sample clock jumps over the outage
                state.resumed = False
                state.next_index += max(0, (capture - state.end_ns) * rate // 1_000_000_000)
            state.last_capture_ns = capture
            state.end_ns = capture + frames * 1_000_000_000 // rate
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
            if stream is not None:
                stream.abort(ignore_errors=True)  # capture has nothing to drain; stop() would wait
                stream.close(ignore_errors=True)

    # --- dead streams: notice, reopen with backoff ---------------------------------------

    def _watch(self) -> None:
        now = self.clock.now_ns()
        if now < self._next_watch_ns or not self._streams:
            return
        self._next_watch_ns = now + int(WATCH_S * 1e9)
        for lane, stream in enumerate(self._streams):
            if stream is None:
                if now >= self._outages[lane].retry_at_ns:
                    self._reopen(lane, now)
            elif not _alive(stream):
                self._lost(lane, stream, now)

    def _lost(self, lane: int, stream, now: int) -> None:
        outage = self._outages[lane]
        outage.stream_failures += 1
        outage.since_ns, outage.retry_at_ns, outage.backoff_s = now, now, RETRY_FIRST_S
        self._streams[lane] = None
        log.warning("input device '%s' stopped delivering audio; reopening", self.devices[lane].name)
        stream.abort(ignore_errors=True)
        stream.close(ignore_errors=True)

    def _refind(self, lane: int) -> None:
        """A re-plugged headset can come back at another device index: find it again by its name.
        PortAudio lists devices as they were when it started, so its list is refreshed first, but
        only while no other stream is open (refreshing would cut that one off)."""
        sd = _sounddevice()
        dev = self.devices[lane]
        if all(stream is None for stream in self._streams):
            try:
                sd._terminate()
                sd._initialize()
            except Exception:  # keep the old list; the reopen below says what is wrong
                pass
        for index, info in enumerate(sd.query_devices()):
            if info["name"] == dev.name and info["max_input_channels"] > max(dev.channels):
                if index != dev.index:
                    log.warning("input device '%s' came back as device %d (was %d)", dev.name, index, dev.index)
                    self.devices[lane] = dataclasses.replace(dev, index=index)
                return

    def _reopen(self, lane: int, now: int) -> None:
        outage = self._outages[lane]
        stream = None
        try:
            self._refind(lane)
            stream = self._open_stream(lane)
            self._states[lane].resumed = True
            stream.start()
        except Exception as error:  # the device is still gone: try again later, each wait twice as long
            outage.reopen_failures += 1
            outage.retry_at_ns = now + int(outage.backoff_s * 1e9)
            outage.backoff_s = min(RETRY_MAX_S, outage.backoff_s * 2)
            if outage.reopen_failures == 1 or outage.backoff_s == RETRY_MAX_S:
                log.info("input device '%s' did not reopen: %s", self.devices[lane].name, _one_line(str(error)))
            if stream is not None:
                stream.close(ignore_errors=True)
            return
        self._streams[lane] = stream
        outage.reconnects += 1
        outage.outage_ns += now - (outage.since_ns or now)
        outage.since_ns = None
        log.warning("input device '%s' reopened", self.devices[lane].name)

    @property
    def finished(self) -> bool:
        return False  # a microphone never runs out

    # --- consumer side ------------------------------------------------------------------

    def read(self, timeout_s: float) -> AudioChunk | None:
        deadline = self.clock.now_ns() + int(max(timeout_s, 0.0) * 1e9)
        while True:
            if self._ready:
                return self._ready.popleft()
            self._watch()
            # Clear before looking, so a put that lands after the look still wakes the wait.
            self._wakeup.clear()
            item = self._next_item()
            if item is None:
                remaining_s = (deadline - self.clock.now_ns()) / 1e9
                if remaining_s <= 0:
                    return None
                self._wakeup.wait(min(remaining_s, WATCH_S))  # wake up to watch the streams too
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
            "stream_failures": sum(o.stream_failures for o in self._outages),
            "reopen_failures": sum(o.reopen_failures for o in self._outages),
            "reconnects": sum(o.reconnects for o in self._outages),
            "outage_ms": round(sum(o.outage_ns for o in self._outages) / 1e6, 1),
            "resampled_from": rates or None,
            "devices": [d.name for d in self.devices],
        }


def _as_specs(devices: DeviceSpec | Sequence[DeviceSpec] | None) -> list[DeviceSpec | None]:
    if devices is None or isinstance(devices, (int, str)):
        return [devices]
    specs = list(devices)
    if len(specs) not in (1, 2):
        raise DyadError(f"give one 2-channel input device or two devices, got {len(specs)}: {specs}")
    return specs


def _channel_picker(channels: tuple[int, ...]):
    """A function returning the wanted columns of the callback buffer, as cheaply as possible."""
    lo = channels[0]
    if list(channels) == list(range(lo, lo + len(channels))):
        return lambda indata: indata[:, lo : lo + len(channels)]  # a view; AudioChunk copies it
    cols = list(channels)
    return lambda indata: indata[:, cols]


def _alive(stream) -> bool:
    """False once PortAudio reports the stream stopped (device gone, driver or callback error)."""
    try:
        return bool(stream.active) and not stream.stopped
    except Exception:  # the handle itself broke: as dead as it gets
        return False


def _one_line(text: str) -> str:
    return " ".join(text.split())
