// The v2 byte prefix code: tight loops between `UInt32` ids and their 1-, 2- or 5-byte codes.
// Callers guarantee the pointers cover what the comments say; nothing here checks bounds.

/// Ids below this take one byte (the byte is the id).
let prefixCodeOneByteLimit: UInt32 = 0x80
/// Ids below this (and at least ``prefixCodeOneByteLimit``) take two bytes.
let prefixCodeTwoByteLimit: UInt32 = 0x80 + 0x7F * 256
/// First byte of a five-byte code: the id follows as a UInt32 little-endian.
let prefixCodeEscape: UInt8 = 0xFF

/// Writes the codes of `count` ids at `dst` (room for 5 × count bytes) and returns their length.
func writePrefixCodes(_ ids: UnsafePointer<UInt32>, count: Int, into dst: UnsafeMutableRawPointer) -> Int {
    var p = 0
    for i in 0..<count {
        let id = ids[i]
        if id < prefixCodeOneByteLimit {
            dst.storeBytes(of: UInt8(truncatingIfNeeded: id), toByteOffset: p, as: UInt8.self)
            p += 1
        } else if id < prefixCodeTwoByteLimit {
            let offset = id &- prefixCodeOneByteLimit
            dst.storeBytes(of: UInt8(truncatingIfNeeded: 0x80 &+ offset &>> 8), toByteOffset: p, as: UInt8.self)
            dst.storeBytes(of: UInt8(truncatingIfNeeded: offset), toByteOffset: p + 1, as: UInt8.self)
            p += 2
        } else {
            dst.storeBytes(of: prefixCodeEscape, toByteOffset: p, as: UInt8.self)
            dst.storeBytes(of: id.littleEndian, toByteOffset: p + 1, as: UInt32.self)
            p += 5
        }
    }
    return p
}

/// How the codes of 8 bytes parse, for each pattern of the bytes' top bits (bit j = top bit of
/// byte j), assuming byte 0 starts a code and no byte is 0xFF: a byte below 0x80 is a one-byte
/// code, one at or above 0x80 starts a two-byte code (its second byte's top bit is ignored).
/// Parsing stops before a two-byte code that would start at byte 7.
struct PrefixCodeChunkTable: Sendable {
    /// Per pattern: byte j holds the offset of code j's first byte.
    var offsets = [UInt64](repeating: 0, count: 256)
    /// Per pattern: bits 0–7 the number of whole codes, bits 8–15 the bytes they take.
    var shape = [UInt32](repeating: 0, count: 256)

    init() {
        for pattern in 0..<256 {
            var position = 0
            var codes = 0
            var offsets: UInt64 = 0
            while position < 8 {
                let twoBytes = pattern & (1 << position) != 0
                if twoBytes && position == 7 { break }
                offsets |= UInt64(position) << (8 * codes)
                codes += 1
                position += twoBytes ? 2 : 1
            }
            self.offsets[pattern] = offsets
            shape[pattern] = UInt32(codes) | UInt32(position) << 8
        }
    }
}

let prefixCodeChunks = PrefixCodeChunkTable()

/// Reads `count` codes from `src` into `ids` and returns how many bytes they took.
///
/// `src` must be readable for 5 × count + 16 bytes: reading stays inside that bound whatever the
/// bytes are (each code is at most 5 bytes; 9 bytes of a chunk are read only at p ≤ 5i), so a corrupt
/// stream yields a wrong length, never an over-read; the caller compares the returned length with
/// the stream's.
func readPrefixCodes(_ src: UnsafeRawPointer, count: Int, into ids: UnsafeMutablePointer<UInt32>) -> Int {
    var p = 0
    var i = 0
    prefixCodeChunks.offsets.withUnsafeBufferPointer { offsetTable in
        prefixCodeChunks.shape.withUnsafeBufferPointer { shapeTable in
            // Eight bytes at a time: the chunk's top bits give every code's offset at once, so
            // the only chain from one chunk to the next is p. Each byte's value as the start of a
            // one- or two-byte code is computed for all 8 positions (SIMD), then the codes' offsets
            // pick theirs.
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 8) { candidates in
                let candidates = candidates.baseAddress!
                while i + 8 <= count {
                    let word = UInt64(littleEndian: src.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                    if (~word &- 0x0101_0101_0101_0101) & word & 0x8080_8080_8080_8080 != 0 {
                        // A 0xFF byte (an escape, or the low byte of a two-byte code): one code
                        // the slow way.
                        p += readOneCode(src, at: p, into: ids + i)
                        i += 1
                        continue
                    }
                    let bytes = src.loadUnaligned(fromByteOffset: p, as: SIMD16<UInt8>.self)
                    let first = SIMD8<UInt32>(truncatingIfNeeded: bytes.lowHalf)
                    let second = SIMD8<UInt32>(
                        truncatingIfNeeded: src.loadUnaligned(fromByteOffset: p + 1, as: SIMD8<UInt8>.self))
                    let long = first &>> 7
                    let mask = 0 &- long
                    let two = prefixCodeOneByteLimit &+ ((first & 0x7F) &<< 8 | second)
                    let value = (two & mask) | (first & ~mask)
                    UnsafeMutableRawPointer(candidates).storeBytes(of: value, as: SIMD8<UInt32>.self)
                    let pattern = Int(truncatingIfNeeded: ((word & 0x8080_8080_8080_8080) &* 0x0002_0408_1020_4081) &>> 56)
                    let offsets = offsetTable[pattern]
                    let shape = shapeTable[pattern]
                    let out = ids + i
                    out[0] = candidates[Int(truncatingIfNeeded: offsets & 0xFF)]
                    out[1] = candidates[Int(truncatingIfNeeded: offsets &>> 8 & 0xFF)]
                    out[2] = candidates[Int(truncatingIfNeeded: offsets &>> 16 & 0xFF)]
                    out[3] = candidates[Int(truncatingIfNeeded: offsets &>> 24 & 0xFF)]
                    out[4] = candidates[Int(truncatingIfNeeded: offsets &>> 32 & 0xFF)]
                    out[5] = candidates[Int(truncatingIfNeeded: offsets &>> 40 & 0xFF)]
                    out[6] = candidates[Int(truncatingIfNeeded: offsets &>> 48 & 0xFF)]
                    out[7] = candidates[Int(truncatingIfNeeded: offsets &>> 56 & 0xFF)]
                    i += Int(shape & 0xFF)
                    p += Int(shape &>> 8 & 0xFF)
                }
            }
        }
    }
    while i < count {
        p += readOneCode(src, at: p, into: ids + i)
        i += 1
    }
    return p
}

/// Reads the code at `src + p` into `id` and returns its length.
@inline(__always)
private func readOneCode(_ src: UnsafeRawPointer, at p: Int, into id: UnsafeMutablePointer<UInt32>) -> Int {
    let first = UInt32(src.load(fromByteOffset: p, as: UInt8.self))
    if first < prefixCodeOneByteLimit {
        id.pointee = first
        return 1
    } else if first != UInt32(prefixCodeEscape) {
        let second = UInt32(src.load(fromByteOffset: p + 1, as: UInt8.self))
        id.pointee = prefixCodeOneByteLimit &+ ((first & 0x7F) &<< 8 | second)
        return 2
    } else {
        id.pointee = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self))
        return 5
    }
}
