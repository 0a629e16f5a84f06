"""PortAudio input devices: listing them for `dyad devices`, resolving a user's spec, picking a rate."""

from __future__ import annotations

import logging

from dyad.runtime.errors import DyadError

log = logging.getLogger("dyad.runtime.audio.mic_source")

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
