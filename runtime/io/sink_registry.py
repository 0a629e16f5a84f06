"""Every `--sink` URL scheme, found where it is declared: the SINK of each adapter module.

Endpoint parsing (dyad.runtime.io.endpoints), the CLI's --sink help and the docs' table of
engines all read this registry, so a new engine is one new adapter module with a SINK.
Adapters are imported on first use, not when this module is: the live session's modules
import no adapter at module level.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

ADAPTERS_PACKAGE = "dyad.adapters"


@lru_cache(maxsize=1)
def sink_specs() -> dict:
    """scheme -> SinkSpec, in the order of the adapter modules' names."""
    from dyad.adapters.sink_spec import SinkSpec

    package = importlib.import_module(ADAPTERS_PACKAGE)
    specs: dict[str, SinkSpec] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{ADAPTERS_PACKAGE}.{info.name}")
        spec = vars(module).get("SINK")
        if isinstance(spec, SinkSpec):
            if spec.scheme in specs:
                raise RuntimeError(f"sink scheme '{spec.scheme}' is declared twice ({info.name})")
            specs[spec.scheme] = spec
    return specs


def sink_help() -> str:
    """The --sink help: every scheme's URL form."""
    forms = ", ".join(spec.usage for spec in sink_specs().values())
    return f"stream frames (repeatable): {forms} (servers bind beyond loopback only with --allow-remote)"


def sink_table() -> str:
    """The docs' table of engines (Markdown), one row per scheme."""
    rows = ["| URL | for | port |", "|---|---|---|"]
    rows += [f"| `{spec.usage}` | {spec.purpose} | {spec.port_note} |" for spec in sink_specs().values()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(sink_table())
