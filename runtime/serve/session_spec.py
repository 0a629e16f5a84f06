"""The JSON body of POST /sessions: `dyad run`'s options that make sense remotely, checked field by field.

    {"wav": ["a.wav", "b.wav"]}                      one stereo file or two mono files, or
    {"voices": "network"}                            WHIP / WebSocket voices on a port of their own
    "sinks": ["zmq://tcp://127.0.0.1:5556"], "control": ["osc://127.0.0.1:9000"],
    "seed": 0, "model": "procedural" | null (the server's model), "steps": 4, "fixed_steps": false,
    "offline": false, "seconds": 10.0, "budget_ms": 150, "actions": "sit,stand", "side_by_side": false,
    "record_paused": false, "wait_start": false

Timing other than the budget (fps, hop, lookahead, context) is the server's: its model was checked
against it once. Every problem is one DyadError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from dyad.runtime.config import SessionConfig
from dyad.runtime.errors import DyadError
from dyad.runtime.frames import ControlState

FIELDS = {
    "wav": list, "voices": str, "sinks": list, "control": list, "seed": int, "model": (str, type(None)), "steps": int,
    "fixed_steps": bool, "offline": bool, "seconds": (int, float), "budget_ms": (int, float), "actions": (str, list),
    "side_by_side": bool, "record_paused": bool, "wait_start": bool, "name": str,
}  # fmt: skip


@dataclass(frozen=True)
class SessionSpec:
    config: SessionConfig  # out_dir is the host's choice, filled in when the session is created
    wav: tuple[Path, ...] = ()
    network_voices: bool = False
    procedural: bool = False
    steps: int | None = None
    adapt: bool | None = None
    name: str = ""


def _typed(body: dict, key: str):
    value = body[key]
    kind = FIELDS[key]
    if isinstance(value, bool) and kind in (int, (int, float)):
        raise DyadError(f"session field '{key}' must be a number, got {value!r}")
    if not isinstance(value, kind):
        raise DyadError(f"session field '{key}' has the wrong type: got {type(value).__name__} {value!r}")
    return value


def _strings(body: dict, key: str) -> tuple[str, ...]:
    values = body.get(key, [])
    if not all(isinstance(v, str) for v in values):
        raise DyadError(f"session field '{key}' must be a list of strings")
    return tuple(values)


def parse_session_spec(body: object, base: SessionConfig) -> SessionSpec:
    """A checked spec from the request body, on the server's timing and network policy."""
    if not isinstance(body, dict):
        raise DyadError("the session request must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise DyadError(f"unknown session field(s): {', '.join(unknown)} (known: {', '.join(sorted(FIELDS))})")
    for key in body:
        _typed(body, key)
    wav = tuple(Path(p) for p in _strings(body, "wav"))
    voices = body.get("voices")
    if voices not in (None, "network"):
        raise DyadError(f"session field 'voices' must be \"network\", got {voices!r}")
    if bool(wav) == (voices is not None):
        raise DyadError("a session needs exactly one input: 'wav' (one stereo or two mono files) or 'voices': \"network\"")
    if len(wav) > 2:
        raise DyadError(f"session field 'wav' takes one stereo file or two mono files, got {len(wav)}")
    for path in wav:
        if not path.is_file():
            raise DyadError(f"session field 'wav': no such file '{path}'")
    model = body.get("model")
    if model not in (None, "procedural"):
        raise DyadError(f"session field 'model' may be \"procedural\" or absent (the server's model), got {model!r}")
    actions = body.get("actions", ",".join(base.controls.actions))
    if isinstance(actions, list):
        actions = ",".join(str(a) for a in actions)
    actions = tuple(a.strip() for a in actions.split(",") if a.strip())
    if len(actions) == 1:
        actions *= 2
    offline = body.get("offline", False)
    if offline and voices is not None:
        raise DyadError("session field 'offline' needs 'wav' input: network voices arrive on the wall clock")
    timing = base.timing if "budget_ms" not in body else replace(base.timing, budget_ms=float(body["budget_ms"]))
    config = replace(
        base,
        timing=timing,
        seed=body.get("seed", base.seed),
        offline=offline,
        seconds=None if body.get("seconds") is None else float(body["seconds"]),
        sinks=_strings(body, "sinks"),
        control_urls=_strings(body, "control"),
        wait_start=body.get("wait_start", False),
        record_at_start=not body.get("record_paused", False),
        controls=ControlState(actions=actions, facing=not body.get("side_by_side", False)),
        status_interval_s=0.0,
    )
    config = config.validate()
    steps = body.get("steps")
    adapt = None if "fixed_steps" not in body else not body["fixed_steps"]
    return SessionSpec(config, wav, voices is not None, model == "procedural", steps, adapt, body.get("name", ""))
