"""The sink registry: every adapter's SINK declaration drives URL parsing, the CLI help and the docs' table."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dyad.models.skeleton import load_default_skeleton
from dyad.runtime.cli.main import build_parser
from dyad.runtime.config import NetworkPolicy
from dyad.runtime.errors import DyadError
from dyad.runtime.io.sink_registry import sink_help, sink_specs, sink_table
from dyad.runtime.io.sinks import sink_from_url
from engine_receivers import free_port

ROOT = Path(__file__).resolve().parents[3]
SKELETON = load_default_skeleton()


def test_every_engine_adapter_declares_a_scheme():
    assert set(sink_specs()) == {"livelink", "vmc", "osc", "zmq", "bvhstream", "view"}
    for scheme, spec in sink_specs().items():
        assert spec.usage.startswith(f"{scheme}://") and spec.port_count >= 1


def test_adapter_modules_without_a_sink_are_not_schemes():
    declared = {Path(sys.modules[spec.build.__module__].__file__).stem for spec in sink_specs().values()}
    adapters = {p.stem for p in (ROOT / "adapters").glob("*.py")}
    assert {"bvh_recorder", "livelink_csv", "timing_csv", "udp_target", "sink_spec"} <= adapters - declared


def _error(url: str, policy: NetworkPolicy | None = None) -> str:
    with pytest.raises(DyadError) as caught:
        sink_from_url(url, SKELETON, 30, policy)
    message = str(caught.value)
    assert "\n" not in message and f"'{url}'" in message
    return message


@pytest.mark.parametrize("scheme", sorted(s for s, spec in sink_specs().items() if not spec.zmq_endpoint))
def test_unknown_option_lists_the_declared_ones(scheme):
    spec = sink_specs()[scheme]
    ports = ",".join(str(free_port()) for _ in range(spec.port_count))
    message = _error(f"{scheme}://127.0.0.1:{ports}?colour=red")
    assert "unknown option 'colour'" in message
    assert all(option in message for option in spec.options)


@pytest.mark.parametrize("scheme", sorted(s for s, spec in sink_specs().items() if not spec.zmq_endpoint))
def test_port_count_and_default_port_come_from_the_declaration(scheme):
    spec = sink_specs()[scheme]
    too_many = ",".join(str(free_port()) for _ in range(spec.port_count + 1))
    assert "needs" in _error(f"{scheme}://127.0.0.1:{too_many}")
    if spec.default_port is None:
        assert "needs a port" in _error(f"{scheme}://127.0.0.1")


@pytest.mark.parametrize("scheme", sorted(s for s, spec in sink_specs().items() if spec.listens))
def test_listening_sinks_need_allow_remote_beyond_loopback(scheme):
    spec = sink_specs()[scheme]
    url = f"{scheme}://tcp://0.0.0.0:{free_port()}" if spec.zmq_endpoint else f"{scheme}://0.0.0.0:{free_port()}"
    assert "--allow-remote" in _error(url, NetworkPolicy())


def test_a_declared_sink_is_built_from_its_url():
    port = free_port()
    sink = sink_from_url(f"osc://127.0.0.1:{port}?prefix=/x", SKELETON, 30)
    try:
        assert sink.name == f"osc:{port}"
    finally:
        sink.close()


def test_unknown_scheme_names_every_declared_one():
    message = _error("carrier-pigeon://x")
    assert all(scheme in message for scheme in sink_specs())


def test_cli_help_lists_every_usage():
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    sink_action = next(a for a in run._actions if "--sink" in a.option_strings)
    assert sink_action.help == sink_help()
    assert all(spec.usage in sink_help() for spec in sink_specs().values())


def test_docs_table_is_the_generated_one():
    text = (ROOT / "docs" / "engines.md").read_text()
    found = re.search(r"<!-- sink-table[^>]*-->\n(.*?)\n<!-- /sink-table -->", text, re.S)
    assert found, "docs/engines.md lost its generated sink table markers"
    assert found.group(1) == sink_table(), "regenerate: python -m dyad.runtime.io.sink_registry"
    printed = subprocess.run([sys.executable, "-m", "dyad.runtime.io.sink_registry"], capture_output=True, text=True, timeout=60)
    assert printed.stdout.strip() == sink_table()
