"""Checks an OSC datagram's structure before any OSC library parses it.

A control listener receives bytes from anyone on its port. python-osc parses
bundles trusting their element sizes: a negative size walks its index backwards
and the parser never returns (one 20-byte datagram stalls the listener and
floods the log). So every datagram is walked here first, with nothing trusted:

- a message is an address (`/...`, NUL-terminated, padded to 4 bytes), an
  optional type-tag string (`,...`) and exactly the argument bytes its tags
  call for, nothing left over;
- a bundle is `#bundle\\0`, an 8-byte time tag, then elements, each a positive
  int32 size (a multiple of 4, within what is left) and a message or bundle of
  exactly that size; bundles nest at most MAX_BUNDLE_DEPTH deep.

Only the tags python-osc decodes are accepted (OSC 1.0's i f s b, and h d t r m T F N [ ]).
"""

from __future__ import annotations

import struct

BUNDLE_PREFIX = b"#bundle\x00"
MAX_BUNDLE_DEPTH = 8  # a control bundle has no reason to nest; deep nesting only burns stack
# The tags python-osc decodes, with their sizes; any other tag is refused here (python-osc would log and skip it).
FIXED_SIZES = {"i": 4, "f": 4, "r": 4, "m": 4, "h": 8, "d": 8, "t": 8, "T": 0, "F": 0, "N": 0}


class BadDatagram(ValueError):
    """The bytes are not a well-formed OSC packet; the message says where."""


def check_datagram(data: bytes) -> None:
    """Raise BadDatagram unless `data` is one well-formed OSC message or bundle."""
    if not data:
        raise BadDatagram("empty datagram")
    _check_packet(bytes(data), 0, len(data), depth=0)


# Every check works on the whole datagram with [start, end) bounds: no copies, so even
# 16 000 tiny strings in a 64 KiB datagram are walked in linear time.


def _check_packet(data: bytes, start: int, end: int, depth: int) -> None:
    if (end - start) % 4:
        raise BadDatagram(f"packet of {end - start} bytes is not a multiple of 4")
    if data.startswith(BUNDLE_PREFIX, start, end):
        _check_bundle(data, start, end, depth)
    elif data.startswith(b"/", start, end):
        _check_message(data, start, end)
    else:
        raise BadDatagram("neither an OSC message ('/...') nor a bundle ('#bundle')")


def _check_bundle(data: bytes, start: int, end: int, depth: int) -> None:
    if depth >= MAX_BUNDLE_DEPTH:
        raise BadDatagram(f"bundles nested more than {MAX_BUNDLE_DEPTH} deep")
    index = start + len(BUNDLE_PREFIX) + 8  # prefix, then the time tag
    if end < index:
        raise BadDatagram("bundle cut off before its time tag ends")
    while index < end:
        if end - index < 4:
            raise BadDatagram(f"bundle element size cut off at byte {index}")
        (size,) = struct.unpack_from(">i", data, index)
        index += 4
        if size <= 0 or size % 4 or size > end - index:
            raise BadDatagram(
                f"bundle element size {size} at byte {index - 4} "
                f"(must be positive, a multiple of 4, within the {end - index} bytes left)"
            )
        _check_packet(data, index, index + size, depth + 1)
        index += size


def _check_message(data: bytes, start: int, end: int) -> None:
    address, index = _string(data, start, end, "address")
    if index == end:
        return  # no type tags, no arguments: legal (a bare /dyad/stop)
    tags, index = _string(data, index, end, "type tags")
    if not tags.startswith(","):
        raise BadDatagram(f"type tags of {address[:40]!r} do not start with ','")
    open_arrays = 0
    for tag in tags[1:]:
        if tag in FIXED_SIZES:
            index += FIXED_SIZES[tag]
        elif tag == "s":
            _, index = _string(data, index, end, "string argument")
        elif tag == "b":
            index = _blob(data, index, end)
        elif tag == "[":
            open_arrays += 1
        elif tag == "]":
            open_arrays -= 1
            if open_arrays < 0:
                raise BadDatagram("']' without '[' in the type tags")
        else:
            raise BadDatagram(f"unsupported type tag {tag!r}")
        if index > end:
            raise BadDatagram(f"arguments of {address[:40]!r} cut off (tags {tags[:40]!r})")
    if open_arrays:
        raise BadDatagram("'[' without ']' in the type tags")
    if index != end:
        raise BadDatagram(f"{end - index} bytes after the last argument of {address[:40]!r}")


def _string(data: bytes, index: int, end: int, what: str) -> tuple[str, int]:
    """An OSC string at `index`: text up to a NUL, padded with NULs to a multiple of 4."""
    nul = data.find(b"\x00", index, end)
    if nul < 0:
        raise BadDatagram(f"{what} at byte {index} has no terminating NUL")
    padded = index + ((nul - index) // 4 + 1) * 4
    if padded > end or data[nul:padded].strip(b"\x00"):
        raise BadDatagram(f"{what} at byte {index} is not padded with NULs to a multiple of 4")
    try:
        return data[index:nul].decode("utf-8"), padded
    except UnicodeDecodeError:
        raise BadDatagram(f"{what} at byte {index} is not UTF-8") from None


def _blob(data: bytes, index: int, end: int) -> int:
    if end - index < 4:
        raise BadDatagram(f"blob size cut off at byte {index}")
    (size,) = struct.unpack_from(">i", data, index)
    if size < 0 or size > end - index - 4:
        raise BadDatagram(f"blob size {size} at byte {index} (negative or beyond the packet)")
    return index + 4 + (size + 3) // 4 * 4
