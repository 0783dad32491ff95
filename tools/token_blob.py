#!/usr/bin/env python3
"""Reference decoder and encoder for token blob formats v1 and v2 (docs/token-blob-format.md).

A blob is an 8-byte header followed by one raw LZ4 block:

    offset 0  magic 0x54 ('T')
    offset 1  format version, 1 or 2
    offset 2  v1: width of one id in bytes, 2 or 4 · v2: code, 1 (byte prefix code)
    offset 3  v1: flags, bit 0 = byte-shuffled (all byte 0s, then all byte 1s, ...), other bits 0
              v2: flags, 0
    offset 4  token count, uint32 little-endian
    offset 8  raw LZ4 block; absent when count = 0
              v1: of count * width bytes, ids little-endian before shuffling
              v2: of the count ids' codes, back to back, nothing after them:
                  id < 128          one byte, the id
                  id < 32640        two bytes, 0x80 + ((id - 128) >> 8), (id - 128) & 0xFF
                  any id            0xFF, then the id as uint32 little-endian

Validation follows the Swift decoder (Sources/TokenCodec) check for check, in the same order,
with the same error kinds: truncatedHeader, badMagic, unsupportedVersion, badWidth (v1),
unknownCode (v2), unknownFlags, countOverLimit, missingBlock, unexpectedBlock, implausibleCount,
corruptBlock, decompressedLengthMismatch (v1), codeStreamMismatch (v2).

Usage:
    token_blob.py check DIR       verify every NAME.json / NAME.blob vector in DIR
    token_blob.py decode FILE     print the ids of a blob as JSON
    token_blob.py encode [FILE]   read a JSON list of ids (default stdin), write the smallest blob
                                  (v1 or v2) to stdout

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
PREFIX_CODE_VERSION = 2
BYTE_PREFIX_CODE = 1
ONE_BYTE_LIMIT = 0x80
TWO_BYTE_LIMIT = 0x80 + 0x7F * 256
ESCAPE = 0xFF
MAX_CODE_LENGTH = 5
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
    width: int  # 4 for v2
    shuffled: bool  # False for v2
    version: int = FORMAT_VERSION


def header(blob: bytes) -> Header:
    """Validate the header, the block's presence and that it could hold count * width bytes."""
    if len(blob) < HEADER_BYTES:
        raise TokenBlobError("truncatedHeader", f"blob is {len(blob)} bytes, shorter than its header")
    magic, version, width, flags, count = struct.unpack_from("<BBBBI", blob, 0)
    if magic != MAGIC:
        raise TokenBlobError("badMagic", f"magic {magic:#04x}, expected {MAGIC:#04x}")
    if version == FORMAT_VERSION:
        if width not in WIDTHS:
            raise TokenBlobError("badWidth", f"id width {width}, expected 2 or 4")
        if flags & ~SHUFFLED_FLAG:
            raise TokenBlobError("unknownFlags", f"flags {flags:#04x} with unknown bits set")
        minimum = count * width  # the block decompresses to exactly this
    elif version == PREFIX_CODE_VERSION:
        if width != BYTE_PREFIX_CODE:
            raise TokenBlobError("unknownCode", f"code {width}, expected {BYTE_PREFIX_CODE}")
        if flags:
            raise TokenBlobError("unknownFlags", f"flags {flags:#04x} with unknown bits set")
        width, minimum = 4, count  # at least one byte per code
    else:
        raise TokenBlobError("unsupportedVersion", f"format version {version}, expected 1 or 2")
    if count > MAX_TOKEN_COUNT:
        raise TokenBlobError("countOverLimit", f"{count} tokens, over the limit of {MAX_TOKEN_COUNT}")
    block_length = len(blob) - HEADER_BYTES
    if count == 0 and block_length != 0:
        raise TokenBlobError("unexpectedBlock", f"0 tokens but {block_length} bytes after the header")
    if count > 0 and block_length == 0:
        raise TokenBlobError("missingBlock", "tokens claimed but no LZ4 block")
    if minimum > MAX_EXPANSION * block_length:
        raise TokenBlobError(
            "implausibleCount", f"{count} tokens, more than its {block_length}-byte LZ4 block can hold"
        )
    return Header(count=count, width=width, shuffled=bool(flags & SHUFFLED_FLAG), version=version)


def decode(blob: bytes) -> list[int]:
    """Decode a blob into its ids, raising TokenBlobError for anything invalid."""
    blob = bytes(blob)
    h = header(blob)
    if h.count == 0:
        return []
    prefix_coded = h.version == PREFIX_CODE_VERSION
    expected = h.count * (MAX_CODE_LENGTH if prefix_coded else h.width)
    if len(blob) - HEADER_BYTES > 0x7FFFFFFF:  # no valid block for a count within the limit is this long
        raise TokenBlobError("corruptBlock", "LZ4 block is longer than any valid block")
    try:
        # uncompressed_size makes lz4 read a bare block (no size prefix) into a buffer of exactly
        # that capacity (LZ4_decompress_safe); a block that would write more fails.
        raw = lz4.block.decompress(blob[HEADER_BYTES:], uncompressed_size=expected)
    except lz4.block.LZ4BlockError as error:
        raise TokenBlobError("corruptBlock", f"LZ4 block is corrupt or too long: {error}") from None
    if prefix_coded:
        return _read_prefix_codes(raw, h.count)
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


def _read_prefix_codes(codes: bytes, count: int) -> list[int]:
    """The ids of a v2 code stream, which must hold exactly `count` codes."""
    ids = []
    p = 0
    n = len(codes)
    while len(ids) < count and p < n:
        first = codes[p]
        if first < ONE_BYTE_LIMIT:
            ids.append(first)
            p += 1
        elif first != ESCAPE:
            if p + 2 > n:
                break
            ids.append(ONE_BYTE_LIMIT + ((first - 0x80) << 8 | codes[p + 1]))
            p += 2
        else:
            if p + 5 > n:
                break
            ids.append(struct.unpack_from("<I", codes, p + 1)[0])
            p += 5
    if len(ids) != count or p != n:
        raise TokenBlobError("codeStreamMismatch", f"{n} bytes of codes are not exactly {count} codes")
    return ids


def prefix_codes(ids: list[int]) -> bytes:
    """The v2 code stream of ids (shortest code for each id)."""
    out = bytearray()
    for i in ids:
        if i < ONE_BYTE_LIMIT:
            out.append(i)
        elif i < TWO_BYTE_LIMIT:
            out += bytes((0x80 + ((i - ONE_BYTE_LIMIT) >> 8), (i - ONE_BYTE_LIMIT) & 0xFF))
        else:
            out.append(ESCAPE)
            out += struct.pack("<I", i)
    return bytes(out)


def encode_prefix_coded(ids: list[int]) -> bytes:
    """Encode ids as a v2 blob, whatever its size."""
    ids = _checked(ids)
    head = struct.pack("<BBBBI", MAGIC, PREFIX_CODE_VERSION, BYTE_PREFIX_CODE, 0, len(ids))
    if not ids:
        return head
    return head + lz4.block.compress(prefix_codes(ids), mode="default", store_size=False)


def _checked(ids: list[int]) -> list[int]:
    ids = list(ids)
    if any(not 0 <= i <= 0xFFFFFFFF for i in ids):
        raise ValueError("ids must be in 0 ... 2**32 - 1")
    if len(ids) > MAX_TOKEN_COUNT:
        raise ValueError(f"{len(ids)} ids exceed the blob limit of {MAX_TOKEN_COUNT}")
    return ids


def encode(ids: list[int], width: int | None = None, shuffle: bool | None = None) -> bytes:
    """Encode ids; with neither width nor shuffle given, the smallest of every v1 layout and v2
    (ties prefer v1, width 2, unshuffled); otherwise the smallest v1 blob with the given ones."""
    free_choice = width is None and shuffle is None
    ids = _checked(ids)
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
    if free_choice:
        v2 = encode_prefix_coded(ids)
        if len(v2) < len(best):
            best = v2
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
    version = spec.get("version", FORMAT_VERSION)
    assert h.version == version, f"header says version {h.version}, vector says {version}"
    if version == PREFIX_CODE_VERSION:
        # The code stream is deterministic, LZ4's choice of matches is not (vectors come from both
        # encoders): this encoder must write the same header and a block that decodes the same.
        mine = encode_prefix_coded(expected)
        assert mine[:HEADER_BYTES] == blob[:HEADER_BYTES], "Python v2 encoder writes a different header"
        assert decode(mine) == expected, "Python v2 encoder does not round-trip"
        return
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
