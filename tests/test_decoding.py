"""watcher.decoding: Content-Encoding undone under a size cap, chunk by chunk."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import pytest

from watcher.decoding import BodyDecoder, TooLarge, Undecodable

TEXT = b"<rss><channel><title>Border report</title></channel></rss>\n" * 50


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def _decode(header: str, body: bytes, chunk: int, limit: int = 10_000_000) -> bytes:
    d = BodyDecoder(header, limit)
    out = [d.feed(body[i:i + chunk]) for i in range(0, len(body), chunk)]
    out.append(d.feed(b"", final=True))
    return b"".join(out)


ENCODINGS: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("", lambda b: b),
    ("identity", lambda b: b),
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("GZip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", _raw_deflate),
    ("gzip, gzip", lambda b: gzip.compress(gzip.compress(b))),
    ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),
    ("gzip", lambda b: gzip.compress(b[:1000]) + gzip.compress(b[1000:])),  # two members
    ("gzip", lambda b: gzip.compress(b) + b"\0" * 4096),  # zero padding after the member
    # what follows the end of a stream is dropped, as other clients do
    ("gzip", lambda b: gzip.compress(b) + b"\n"),
    ("gzip", lambda b: gzip.compress(b) + b"\r\n\r\n<!-- cached -->"),
    ("gzip", lambda b: gzip.compress(b) + b"\x1f"),  # (a lone byte like a member's first)
    ("deflate", lambda b: zlib.compress(b) + b"\r\n"),
    ("deflate", lambda b: _raw_deflate(b) + b"junk"),
]


@pytest.mark.parametrize("chunk", [1, 2, 7, 4096, 1 << 20])
@pytest.mark.parametrize(("header", "encode"), ENCODINGS)
def test_decodes_in_any_chunking(header: str, encode: Callable[[bytes], bytes],
                                 chunk: int) -> None:
    assert _decode(header, encode(TEXT), chunk) == TEXT


@pytest.mark.parametrize(("header", "body", "message"), [
    ("br", b"\x1b\x00", "unsupported Content-Encoding 'br'"),
    ("gzip, zstd", b"", "unsupported Content-Encoding 'zstd'"),
    ("gzip", b"plain text, not gzip", "cannot decode the gzip body"),
    ("gzip", gzip.compress(TEXT) + b"\x1f\x8bnot a member", "cannot decode the gzip body"),
    ("deflate", b"x", "a deflate body of one byte"),
])
def test_undecodable_bodies_say_why(header: str, body: bytes, message: str) -> None:
    with pytest.raises(Undecodable, match=message.replace("(", r"\(")):
        _decode(header, body, 3)


def test_a_body_cut_short_decodes_to_what_it_holds() -> None:
    body = gzip.compress(TEXT)
    got = _decode("gzip", body[: len(body) // 2], 100)
    assert got and TEXT.startswith(got)


@pytest.mark.parametrize("header", ["gzip", "deflate", "gzip, gzip"])
def test_cap_holds_whatever_a_chunk_expands_to(header: str) -> None:
    raw = b"\0" * 5_000_000
    body = {"gzip": gzip.compress, "deflate": zlib.compress,
            "gzip, gzip": lambda b: gzip.compress(gzip.compress(b))}[header](raw)
    d = BodyDecoder(header, 100_000)
    with pytest.raises(TooLarge, match="more than 100000 bytes after decoding"):
        d.feed(body)  # one chunk of a few KB, 5 MB decoded
    assert _decode(header, body, 65536, limit=len(raw)) == raw  # exactly at the cap: fine
    with pytest.raises(TooLarge):
        _decode(header, body, 65536, limit=len(raw) - 1)


@pytest.mark.parametrize("tail", [b"\0" * 65536, b"junk" * 16384])
def test_what_follows_a_member_is_not_kept(tail: bytes) -> None:
    """50 MB after a gzip member: dropped as it comes (zlib would keep all of it as unused
    data, copying it again for each chunk)."""
    d = BodyDecoder("gzip", 100_000_000)
    assert d.feed(gzip.compress(b"x")) == b"x"
    for _ in range(800):
        assert d.feed(tail) == b""
        [stage] = d.stages
        assert len(stage.pending) < 2 and (stage.obj is None or not stage.obj.unused_data)
    assert d.feed(b"", final=True) == b""


def test_what_is_received_is_capped_too() -> None:
    """Padding decodes to nothing, but a body cannot go on with it past the cap (about 1.6 %
    above it, for incompressible data stored in gzip)."""
    d = BodyDecoder("gzip", 1_000_000)
    d.feed(gzip.compress(b"x"))
    with pytest.raises(TooLarge, match="bytes received"):
        for _ in range(40):
            d.feed(b"\0" * 65536)
    noise = bytes(range(256)) * 4096  # 1 MB that gzip cannot shrink
    stored = gzip.compress(noise, compresslevel=0)
    assert len(stored) > len(noise)
    assert _decode("gzip", stored, 65536, limit=len(noise)) == noise
