"""`--sink` and `--control` URLs -> sinks and listener addresses, with one-line errors naming the URL.

    livelink://HOST:PORT[?subjects=NAME0,NAME1]                Live Link Face UDP (default port 11111)
    vmc://HOST:PORT0,PORT1[?mtu=1500&retarget=FILE.json]       VMC over OSC, one port per person
    osc://HOST:PORT[?prefix=/dyad]                              plain OSC
    zmq://tcp://HOST:PORT  (or zmq://HOST:PORT)                 ZeroMQ PUB (HOST may be *)
    bvhstream://HOST:PORT[?names=NAME0,NAME1&hierarchy=1]       live BVH text over TCP (default port 7001)
    view://HOST:PORT                                            live browser viewer (default port 8765)
An empty HOST means 127.0.0.1: nothing listens beyond this machine unless asked, and the
servers among them (zmq, bvhstream, view) bind another interface only with --allow-remote.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from dyad.models.skeleton import Skeleton
from dyad.runtime.errors import DyadError
from dyad.runtime.net_policy import NetworkPolicy, zmq_bind_host

LOOPBACK = "127.0.0.1"
SINK_SCHEMES = ("livelink", "vmc", "osc", "zmq", "bvhstream", "view")
_OPTIONS = {
    "livelink": ("subjects",),
    "vmc": ("mtu", "retarget"),
    "osc": ("prefix",),
    "bvhstream": ("names", "hierarchy", "buffer_frames"),
    "view": (),
}
_DEFAULT_PORTS = {"livelink": 11111, "bvhstream": 7001, "view": 8765}
_SERVERS = ("bvhstream", "view")  # sinks that listen (zmq is checked on its own endpoint form)


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

    def option_list(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if name not in self.options:
            return default
        return tuple(part.strip() for part in self.options[name].split(","))

    def option_int(self, name: str, default: int) -> int:
        try:
            return int(self.options.get(name, default))
        except ValueError:
            raise self.error(f"option '{name}' must be an integer, got '{self.options[name]}'") from None


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
    policy = policy or NetworkPolicy()
    scheme = url.partition("://")[0]
    if scheme == "zmq":
        from dyad.adapters.zmq_pub import ZmqPublisher

        endpoint = zmq_endpoint(url)
        host = zmq_bind_host(endpoint)
        if host is not None:
            policy.check_bind(host, url, "sink")
        return ZmqPublisher(endpoint, skeleton)
    if scheme not in SINK_SCHEMES:
        raise DyadError(f"sink '{url}': unknown scheme '{scheme}' (supported: {', '.join(SINK_SCHEMES)})")
    endpoint = parse_endpoint(url, "sink", _DEFAULT_PORTS.get(scheme))
    unknown = sorted(set(endpoint.options) - set(_OPTIONS[scheme]))
    if unknown:
        raise endpoint.error(f"unknown option '{unknown[0]}' (known: {', '.join(_OPTIONS[scheme])})")
    want_ports = 2 if scheme == "vmc" else 1
    if len(endpoint.ports) != want_ports:
        raise endpoint.error(f"needs {'one port per person, e.g. :39539,39541' if want_ports == 2 else 'one port'}")
    if scheme in _SERVERS:
        policy.check_bind(endpoint.host, url, "sink")
    try:
        return _build(endpoint, skeleton, fps)
    except (OSError, ValueError) as error:
        raise endpoint.error(str(error).splitlines()[0]) from error


def _one_per_person(endpoint: Endpoint, option: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Names for the two people: refused at start, not with a warning on every frame."""
    names = tuple(endpoint.option_list(option, default))
    if len(names) != 2 or any(not name for name in names) or names[0] == names[1]:
        raise endpoint.error(f"option '{option}' needs two distinct names, one per person (e.g. ?{option}=A,B), got {len(names)}: {','.join(names)}")
    return names


def _build(endpoint: Endpoint, skeleton: Skeleton, fps: int):
    host, port = endpoint.host, endpoint.ports[0]
    if endpoint.scheme == "livelink":
        from dyad.adapters.livelink_udp import DEFAULT_SUBJECTS, LiveLinkFaceSender

        return LiveLinkFaceSender(host, port, _one_per_person(endpoint, "subjects", DEFAULT_SUBJECTS))
    if endpoint.scheme == "vmc":
        from dyad.adapters.vmc_osc import DEFAULT_MTU, VmcSender, load_retarget

        retarget = load_retarget(skeleton, endpoint.options.get("retarget"))
        return VmcSender(host, endpoint.ports, skeleton, retarget, mtu=endpoint.option_int("mtu", DEFAULT_MTU))
    if endpoint.scheme == "osc":
        from dyad.adapters.osc_plain import DEFAULT_PREFIX, PlainOscSender

        return PlainOscSender(host, port, skeleton, prefix=endpoint.options.get("prefix", DEFAULT_PREFIX))
    if endpoint.scheme == "view":
        from dyad.adapters.view_server import ViewServer

        return ViewServer(host, port, skeleton, fps)
    from dyad.adapters.bvh_stream import DEFAULT_NAMES, BvhStreamServer

    hierarchy = endpoint.options.get("hierarchy", "0")
    if hierarchy not in ("0", "1"):
        raise endpoint.error(f"option 'hierarchy' must be 0 or 1, got '{hierarchy}'")
    return BvhStreamServer(
        host,
        port,
        skeleton,
        fps=fps,
        names=_one_per_person(endpoint, "names", DEFAULT_NAMES),
        send_hierarchy=hierarchy == "1",
        buffer_frames=endpoint.option_int("buffer_frames", fps),
    )
