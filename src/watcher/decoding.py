"""HTTP bodies decoded (Content-Encoding) under a size cap.

`BodyDecoder` undoes "gzip" (also several members in a row, with zero padding between them),
"deflate" (zlib-wrapped as the standard says, or raw as some servers send it), chains of them
("gzip, deflate": applied in that order, undone in reverse) and "identity". It never produces
more than `limit` bytes in all, whatever one chunk would expand to (a gzip bomb stops at the
cap), and never keeps data it will not decode: what follows the end of a stream (padding, a
stray newline, junk), unless it starts another gzip member, is dropped as it comes, as other
HTTP clients ignore it; what is received counts against a cap of its own. A body cut short
decodes to what it holds; an unknown coding is an error that names it.
"""

from __future__ import annotations

import zlib
from typing import Any

__all__ = ["BodyDecoder", "TooLarge", "Undecodable"]


class TooLarge(Exception):
    """The decoded body would exceed the cap."""


class Undecodable(Exception):
    """The body is not in the coding its header names (or the coding is unknown)."""


_GZIP = ("gzip", "x-gzip")


def _zlib_wrapped(first: bytes) -> bool:
    """A zlib header (RFC 1950): compression method 8 and a check value making the first two
    bytes a multiple of 31. Raw deflate data almost never starts so."""
    return first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0


class _Stage:
    """One coding undone, member after member."""

    def __init__(self, coding: str) -> None:
        self.coding = "gzip" if coding in _GZIP else coding
        self.obj: Any = None  # the current member's decompressor
        self.ended = False  # a member has ended: what follows is dropped, or a new gzip member
        self.pending = b""  # a first byte, until the second tells what follows

    def _start(self, data: bytes) -> None:
        if self.coding == "gzip":
            self.obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            self.obj = zlib.decompressobj(zlib.MAX_WBITS if _zlib_wrapped(data)
                                          else -zlib.MAX_WBITS)

    def decode(self, data: bytes, room: int, final: bool) -> bytes:
        """Up to `room` - 1 bytes decoded from `data` (TooLarge when there would be more)."""
        out: list[bytes] = []
        size = 0
        data = self.pending + data
        self.pending = b""
        while data:
            if self.obj is None:
                if self.ended:  # another gzip member, or anything else: dropped
                    data = data.lstrip(b"\0")
                    if self.coding == "gzip" and data[:1] == b"\x1f" and len(data) < 2 \
                            and not final:
                        self.pending = data
                        break
                    if self.coding != "gzip" or data[:2] != b"\x1f\x8b":
                        break
                elif self.coding == "deflate" and len(data) < 2:
                    if not final:
                        self.pending = data
                        break
                    raise Undecodable("a deflate body of one byte")
                self._start(data)
            chunk = self.obj.decompress(data, room - size)
            out.append(chunk)
            size += len(chunk)
            if size >= room:
                raise TooLarge
            if not self.obj.eof:
                break  # all of `data` taken (max_length was not reached)
            data = self.obj.unused_data  # after this member
            self.obj = None
            self.ended = True
        if final and self.obj is not None:
            chunk = self.obj.flush()
            size += len(chunk)
            out.append(chunk)
            if size >= room:
                raise TooLarge
        return b"".join(out)


class BodyDecoder:
    """Feed the body's chunks in order (`final=True` with the last, or with b"" after it)."""

    def __init__(self, header: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.header = header
        self.received = 0
        # what is received is capped too: compressed data is at most a little larger than what
        # it decodes to (stored blocks), never more than this
        self.raw_limit = limit + limit // 64 + 65536
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        self.stages: list[_Stage] = []
        for coding in reversed(codings):
            if coding in _GZIP or coding == "deflate":
                self.stages.append(_Stage(coding))
            elif coding != "identity":
                raise Undecodable(f"unsupported Content-Encoding {coding!r}")

    def feed(self, data: bytes, final: bool = False) -> bytes:
        self.received += len(data)
        if self.received > self.raw_limit:  # (padding after a stream is not decoded output)
            raise TooLarge(f"more than {self.raw_limit} bytes received")
        room = self.limit - self.size + 1
        try:
            for stage in self.stages:
                data = stage.decode(data, room, final)
        except TooLarge:
            raise TooLarge(f"more than {self.limit} bytes after decoding") from None
        except zlib.error as exc:
            raise Undecodable(f"cannot decode the {self.header} body: {exc}") from None
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(f"more than {self.limit} bytes after decoding")
        return data
