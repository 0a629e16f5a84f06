"""`--sink` and `--control` URLs -> sinks and listener addresses, with one-line errors naming the URL.

Sink schemes, their options, ports and builders are declared by the adapters themselves
(dyad.runtime.io.sink_registry lists them; `python -m dyad.runtime.io.sink_registry` prints
the table). zmq://tcp://HOST:PORT also accepts zmq://HOST:PORT. An empty HOST means 127.0.0.1: nothing listens beyond this machine unless asked, and the
servers among them (zmq, bvhstream, view) bind another interface only with --allow-remote.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from dyad.models.skeleton import Skeleton
from dyad.runtime.errors import DyadError
from dyad.runtime.config import NetworkPolicy
from dyad.runtime.io.net_policy import check_bind, zmq_bind_host

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    url: str
    scheme: str
    host: str
    ports: tuple[int, ...]
    options: dict
    kind: str = "sink"

    def error(self, message: str) -> DyadError:
        return DyadError(f"{self.kind} '{self.url}': {message}")


def parse_endpoint(url: str, kind: str = "sink", default_port: int | None = None) -> Endpoint:
    """Split SCHEME://HOST:PORT[,PORT...][?key=value&...]; the ZeroMQ form keeps its endpoint whole."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise DyadError(f"{kind} '{url}' is not a URL (expected e.g. osc://127.0.0.1:9000)")
    rest, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise DyadError(f"{kind} '{url}': options must look like ?key=value&key=value") from None
    netloc = rest.split("/", 1)[0]
    host, colon, ports_text = netloc.rpartition(":")
    if not colon:
        host, ports_text = netloc, ""
    host = host.strip("[]") or LOOPBACK
    try:
        ports = tuple(int(p) for p in ports_text.split(",")) if ports_text else ()
    except ValueError:
        raise DyadError(f"{kind} '{url}': port '{ports_text}' is not a number") from None
    if not ports and default_port is not None:
        ports = (default_port,)
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise DyadError(f"{kind} '{url}': needs a port 1..65535 (e.g. {scheme}://127.0.0.1:9000)")
    return Endpoint(url, scheme, host, ports, options, kind)


def zmq_endpoint(url: str, kind: str = "sink") -> str:
    """zmq://tcp://HOST:PORT, zmq://HOST:PORT or zmq://:PORT -> a ZeroMQ endpoint (empty host = loopback)."""
    rest = url.partition("://")[2].partition("?")[0]
    transport, sep, address = rest.partition("://")
    if not sep:
        transport, address = "tcp", rest
    if address.startswith(":"):
        address = LOOPBACK + address
    if not address or (transport == "tcp" and ":" not in address):
        raise DyadError(f"{kind} '{url}': expected zmq://tcp://HOST:PORT")
    return f"{transport}://{address}"


def sink_from_endpoint(url: str, skeleton: Skeleton, fps: int, policy: NetworkPolicy | None = None):
    """Build the sink a `--sink` URL names, from its adapter's SinkSpec (dyad.runtime.io.sink_registry)."""
    from dyad.adapters.sink_spec import SinkTarget
    from dyad.runtime.io.sink_registry import sink_specs

    policy = policy or NetworkPolicy()
    scheme = url.partition("://")[0]
    specs = sink_specs()
    spec = specs.get(scheme)
    if spec is None:
        raise DyadError(f"sink '{url}': unknown scheme '{scheme}' (supported: {', '.join(specs)})")
    if spec.zmq_endpoint:
        endpoint = zmq_endpoint(url)
        host = zmq_bind_host(endpoint)
        if host is not None:
            check_bind(policy, host, url, "sink")
        return spec.build(SinkTarget(host or "", endpoint=endpoint), skeleton, fps)
    parsed = parse_endpoint(url, "sink", spec.default_port)
    unknown = sorted(set(parsed.options) - set(spec.options))
    if unknown:
        raise parsed.error(f"unknown option '{unknown[0]}' (known: {', '.join(spec.options)})")
    if len(parsed.ports) != spec.port_count:
        raise parsed.error(f"needs {'one port per person, e.g. :39539,39541' if spec.port_count == 2 else 'one port'}")
    if spec.listens:
        check_bind(policy, parsed.host, url, "sink")
    try:
        return spec.build(SinkTarget(parsed.host, parsed.ports, parsed.options), skeleton, fps)
    except (OSError, ValueError) as error:
        raise parsed.error(str(error).splitlines()[0]) from error
