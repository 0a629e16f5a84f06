"""The one error type that reaches the user as a one-line message."""


class DyadError(Exception):
    """Bad input or configuration: the CLI prints `dyad: error: <message>` and exits non-zero.

    The message must name what is wrong (the file, the field, the device) in one line.
    """
