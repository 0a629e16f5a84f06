"""How an adapter declares itself as a `--sink` URL scheme: one SinkSpec per module, named SINK.

The runtime finds every adapter's SINK (dyad.runtime.io.sink_registry) and parses URLs,
writes the CLI help and the docs' table of engines from them, so adding an engine is one
new adapter module. A builder receives the parsed URL as a SinkTarget and raises ValueError
(or OSError) with a one-line reason; the runtime names the URL in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from dyad.models.skeleton import Skeleton
from dyad.runtime.frames import Sink


@dataclass(frozen=True)
class SinkTarget:
    """A parsed sink URL: HOST:PORT[,PORT...] and its ?key=value options (or a ZeroMQ endpoint)."""

    host: str
    ports: tuple[int, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    endpoint: str | None = None  # zmq-style schemes: the whole transport://address

    @property
    def port(self) -> int:
        return self.ports[0]

    def option_list(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if name not in self.options:
            return default
        return tuple(part.strip() for part in self.options[name].split(","))

    def names_per_person(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """Two distinct names, one per person: refused at start, not with a warning on every frame."""
        names = self.option_list(name, default)
        if len(names) != 2 or not all(names) or names[0] == names[1]:
            raise ValueError(f"option '{name}' needs two distinct names, one per person (e.g. ?{name}=A,B), got {len(names)}: {','.join(names)}")
        return names

    def option_int(self, name: str, default: int) -> int:
        try:
            return int(self.options.get(name, default))
        except ValueError:
            raise ValueError(f"option '{name}' must be an integer, got '{self.options[name]}'") from None


@dataclass(frozen=True)
class SinkSpec:
    scheme: str  # the URL scheme, e.g. "livelink"
    usage: str  # the URL form shown in help and docs, e.g. "livelink://HOST:PORT[?subjects=A,B]"
    purpose: str  # who receives it, for the docs' table
    build: Callable[[SinkTarget, Skeleton, int], Sink]  # (target, skeleton, fps) -> a started sink
    options: tuple[str, ...] = ()  # the ?key=value options it accepts
    default_port: int | None = None  # used when the URL names no port
    port_count: int = 1  # ports the URL must name (VMC: one per person)
    listens: bool = False  # a server: binds beyond loopback only with --allow-remote
    zmq_endpoint: bool = False  # the URL's rest is a ZeroMQ endpoint (zmq://tcp://HOST:PORT)
    port_note: str = "any"  # the docs' port column
