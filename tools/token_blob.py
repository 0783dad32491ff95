#!/usr/bin/env python3
"""Reference decoder and encoder for token blob format v1 (DESIGN.md section 5).

A blob is an 8-byte header followed by one raw LZ4 block:

    offset 0  magic 0x54 ('T')
    offset 1  format version, 1
    offset 2  width of one id in bytes: 2 or 4
    offset 3  flags: bit 0 = byte-shuffled (all byte 0s, then all byte 1s, ...); other bits 0
    offset 4  token count, uint32 little-endian
    offset 8  raw LZ4 block of count * width bytes; absent when count = 0

Ids are little-endian before shuffling. Validation follows the Swift decoder
(Sources/TokenCodec) check for check, in the same order, with the same error kinds:
truncatedHeader, badMagic, unsupportedVersion, badWidth, unknownFlags, countOverLimit,
missingBlock, unexpectedBlock, implausibleCount, corruptBlock, decompressedLengthMismatch.

Usage:
    token_blob.py check DIR       verify every NAME.json / NAME.blob vector in DIR
    token_blob.py decode FILE     print the ids of a blob as JSON
    token_blob.py encode [FILE]   read a JSON list of ids (default stdin), write the smallest blob
                                  to stdout

Needs the `lz4` package (tools/requirements.txt).
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

import lz4.block

MAGIC = 0x54
FORMAT_VERSION = 1
SHUFFLED_FLAG = 0x01
HEADER_BYTES = 8
MAX_TOKEN_COUNT = 64 << 20  # TokenCodec.maxTokenCount
WIDTHS = (2, 4)
MAX_EXPANSION = 255  # an LZ4 block of B bytes decompresses to fewer than 255 * B bytes


class TokenBlobError(Exception):
    """A blob is invalid; `kind` names the check that failed, as in Swift's TokenBlobError."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class Header:
    count: int
    width: int
    shuffled: bool


def header(blob: bytes) -> Header:
    """Validate the header, the block's presence and that it could hold count * width bytes."""
    if len(blob) < HEADER_BYTES:
        raise TokenBlobError("truncatedHeader", f"blob is {len(blob)} bytes, shorter than its header")
    magic, version, width, flags, count = struct.unpack_from("<BBBBI", blob, 0)
    if magic != MAGIC:
        raise TokenBlobError("badMagic", f"magic {magic:#04x}, expected {MAGIC:#04x}")
    if version != FORMAT_VERSION:
        raise TokenBlobError("unsupportedVersion", f"format version {version}, expected {FORMAT_VERSION}")
    if width not in WIDTHS:
        raise TokenBlobError("badWidth", f"id width {width}, expected 2 or 4")
    if flags & ~SHUFFLED_FLAG:
        raise TokenBlobError("unknownFlags", f"unknown flag bits {flags & ~SHUFFLED_FLAG:#04x}")
    if count > MAX_TOKEN_COUNT:
        raise TokenBlobError("countOverLimit", f"{count} tokens, over the limit of {MAX_TOKEN_COUNT}")
    block_length = len(blob) - HEADER_BYTES
    if count == 0 and block_length != 0:
        raise TokenBlobError("unexpectedBlock", f"0 tokens but {block_length} bytes after the header")
    if count > 0 and block_length == 0:
        raise TokenBlobError("missingBlock", "tokens claimed but no LZ4 block")
    if count * width > MAX_EXPANSION * block_length:
        raise TokenBlobError(
            "implausibleCount", f"{count} tokens, more than its {block_length}-byte LZ4 block can hold"
        )
    return Header(count=count, width=width, shuffled=bool(flags & SHUFFLED_FLAG))


def decode(blob: bytes) -> list[int]:
    """Decode a blob into its ids, raising TokenBlobError for anything invalid."""
    blob = bytes(blob)
    h = header(blob)
    if h.count == 0:
        return []
    expected = h.count * h.width
    if len(blob) - HEADER_BYTES > 0x7FFFFFFF:  # no valid block for a count within the limit is this long
        raise TokenBlobError("corruptBlock", "LZ4 block is longer than any valid block")
    try:
        # uncompressed_size makes lz4 read a bare block (no size prefix) into a buffer of exactly
        # that capacity (LZ4_decompress_safe); a block that would write more fails.
        raw = lz4.block.decompress(blob[HEADER_BYTES:], uncompressed_size=expected)
    except lz4.block.LZ4BlockError as error:
        raise TokenBlobError("corruptBlock", f"LZ4 block is corrupt or too long: {error}") from None
    if len(raw) != expected:
        raise TokenBlobError(
            "decompressedLengthMismatch", f"LZ4 block decompressed to {len(raw)} bytes, expected {expected}"
        )
    if h.shuffled:
        interleaved = bytearray(expected)
        for k in range(h.width):
            interleaved[k :: h.width] = raw[k * h.count : (k + 1) * h.count]
        raw = bytes(interleaved)
    return _ids_from_le(raw, h.width)


def encode(ids: list[int], width: int | None = None, shuffle: bool | None = None) -> bytes:
    """Encode ids; unspecified width/shuffle are chosen to give the smallest blob."""
    ids = list(ids)
    if any(not 0 <= i <= 0xFFFFFFFF for i in ids):
        raise ValueError("ids must be in 0 ... 2**32 - 1")
    if len(ids) > MAX_TOKEN_COUNT:
        raise ValueError(f"{len(ids)} ids exceed the blob limit of {MAX_TOKEN_COUNT}")
    fits_two = all(i <= 0xFFFF for i in ids)
    if width == 2 and not fits_two:
        raise ValueError("width 2 needs every id <= 65535")
    widths = [width] if width is not None else ([2, 4] if fits_two else [4])
    shuffles = [shuffle] if shuffle is not None else [False, True]
    if not ids:
        return _header_bytes(0, widths[0], shuffles[0])
    best: bytes | None = None
    for w in widths:
        plain = _ids_to_le(ids, w)
        for s in shuffles:
            data = b"".join(plain[k::w] for k in range(w)) if s else plain
            block = lz4.block.compress(data, mode="default", store_size=False)
            blob = _header_bytes(len(ids), w, s) + block
            if best is None or len(blob) < len(best):
                best = blob
    assert best is not None
    return best


def _header_bytes(count: int, width: int, shuffled: bool) -> bytes:
    return struct.pack("<BBBBI", MAGIC, FORMAT_VERSION, width, SHUFFLED_FLAG if shuffled else 0, count)


def _ids_to_le(ids: list[int], width: int) -> bytes:
    values = array("H" if width == 2 else "I", ids)
    assert values.itemsize == width
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def _ids_from_le(raw: bytes, width: int) -> list[int]:
    values = array("H" if width == 2 else "I")
    assert values.itemsize == width
    values.frombytes(raw)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def check_vectors(directory: Path) -> int:
    """Verify every vector in `directory`; return the number of failures."""
    specs = sorted(directory.glob("*.json"))
    if not specs:
        print(f"FAIL no vectors in {directory}")
        return 1
    failures = 0
    for spec_path in specs:
        name = spec_path.stem
        try:
            _check_vector(spec_path)
        except AssertionError as failure:
            failures += 1
            print(f"FAIL {name}: {failure}")
        else:
            print(f"ok   {name}")
    print(f"{len(specs) - failures} of {len(specs)} vectors ok")
    return failures


def _check_vector(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    blob_path = spec_path.with_suffix(".blob")
    assert blob_path.exists(), f"missing {blob_path.name}"
    blob = blob_path.read_bytes()
    if "error" in spec:
        try:
            ids = decode(blob)
        except TokenBlobError as error:
            assert error.kind == spec["error"], f"expected {spec['error']}, got {error}"
        else:
            raise AssertionError(f"expected {spec['error']}, decoded {len(ids)} ids")
        return
    expected = spec["ids"]
    try:
        ids = decode(blob)
    except TokenBlobError as error:
        raise AssertionError(f"expected {len(expected)} ids, got {error}") from None
    assert ids == expected, "decoded ids differ from the vector's ids"
    h = header(blob)
    assert (h.width, h.shuffled) == (spec["width"], spec["shuffled"]), (
        f"header says width {h.width} shuffled {h.shuffled}, vector says {spec['width']} {spec['shuffled']}"
    )
    # This encoder must round-trip the same ids in the same layout too.
    assert decode(encode(expected, h.width, h.shuffled)) == expected, "Python encoder does not round-trip"


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "check":
        return 1 if check_vectors(Path(argv[1])) else 0
    if len(argv) == 2 and argv[0] == "decode":
        try:
            print(json.dumps(decode(Path(argv[1]).read_bytes())))
        except TokenBlobError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["encode"] and len(argv) <= 2:
        text = Path(argv[1]).read_text() if len(argv) == 2 else sys.stdin.read()
        sys.stdout.buffer.write(encode(json.loads(text)))
        return 0
    print(__doc__.split("Usage:")[1].split("Needs")[0].rstrip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
