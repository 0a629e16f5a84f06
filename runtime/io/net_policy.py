"""Who may reach a session over the network: loopback unless asked, and then only named senders.

Rules (checked when a listener or server sink is built, one-line errors naming the URL):
- Every socket dyad LISTENS on (control inputs; the ZeroMQ PUB, live BVH and viewer
  sinks) binds to loopback unless `allow_remote` (`--allow-remote`) is set.
- A control input on another interface also needs an allowlist of sender addresses
  (`--allow-from 10.0.0.5,...`): steering a session is more than watching it.
- An allowlist, once given, applies to every control input, loopback ones included;
  messages from other addresses are dropped and counted (`refused_sender`).
Sinks that SEND (Live Link, VMC, plain OSC over UDP) go where their URL says: the
user named that receiver.
"""

from __future__ import annotations

import ipaddress
import socket

from dyad.runtime.config import NetworkPolicy
from dyad.runtime.errors import DyadError

_ALL_INTERFACES = ("", "*", "0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    """True when `host` (an address or a name) means this machine only."""
    host = host.strip("[]")
    if host in _ALL_INTERFACES:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: treated as remote, so it needs the flag
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def parse_allow_from(text: str | None) -> tuple[str, ...]:
    """'10.0.0.5, 10.0.0.6' -> normalised addresses; DyadError naming the bad entry."""
    if not text:
        return ()
    addresses = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            addresses.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise DyadError(f"--allow-from: '{part}' is not an IP address") from None
    return tuple(addresses)


def check_bind(policy: NetworkPolicy, host: str, url: str, kind: str) -> None:
    """Refuse a listening socket beyond loopback without the flag (and, for control, the allowlist)."""
    if is_loopback(host):
        return
    if not policy.allow_remote:
        raise DyadError(f"{kind} '{url}': listening on '{host}' reaches other machines; add --allow-remote to mean it")
    if kind == "control" and not policy.allow_from:
        raise DyadError(f"control '{url}': a control input beyond loopback needs --allow-from with the senders' addresses")


def sender_allowed(policy: NetworkPolicy, address: str) -> bool:
    if not policy.allow_from:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip) in policy.allow_from


def zmq_bind_host(endpoint: str) -> str | None:
    """The interface a ZeroMQ endpoint binds; None for transports that never leave the machine."""
    transport, _, address = endpoint.partition("://")
    if transport in ("ipc", "inproc"):
        return None
    host = address.rpartition(":")[0]
    return host.split(";")[-1] or "*"
