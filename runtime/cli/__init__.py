"""The `dyad` command, one module per command; `main` wires them together."""
