"""Two sinks of one kind (two real ZeroMQ publishers, both named `zmq`) keep separate counters in session stats."""

from __future__ import annotations

import socket

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.io.sinks import SinkSet, sink_from_url
from engine_receivers import free_port


def test_two_zmq_sinks_have_two_stats_keys():
    skeleton = load_default_skeleton()
    sinks = [sink_from_url(f"zmq://tcp://127.0.0.1:{free_port(socket.SOCK_STREAM)}", skeleton) for _ in range(2)]
    assert sinks[0].name == sinks[1].name == "zmq"
    sink_set = SinkSet(sinks, 30, block_when_full=True)
    sink_set.close()
    stats = sink_set.stats()
    assert sorted(stats) == ["zmq", "zmq#2"]
    assert stats["zmq"] is not stats["zmq#2"]
