// Tight loops that move ids between `UInt32` and the block's byte layouts. Callers guarantee the
// pointers cover `count` elements; nothing here checks bounds.

/// Writes each id as a little-endian `UInt16` (ids must be ≤ 65535).
func narrowToUInt16(_ ids: UnsafePointer<UInt32>, count: Int, into dst: UnsafeMutableRawPointer) {
    for i in 0..<count {
        dst.storeBytes(of: UInt16(truncatingIfNeeded: ids[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
    }
}

/// Writes the byte planes of `count` little-endian ids: all byte 0s, then all byte 1s, ….
func shuffle(_ ids: UnsafePointer<UInt32>, count: Int, width: TokenWidth, into dst: UnsafeMutableRawPointer) {
    let p0 = dst
    let p1 = p0 + count
    if width == .two {
        for i in 0..<count {
            let id = ids[i]
            p0.storeBytes(of: UInt8(truncatingIfNeeded: id), toByteOffset: i, as: UInt8.self)
            p1.storeBytes(of: UInt8(truncatingIfNeeded: id &>> 8), toByteOffset: i, as: UInt8.self)
        }
    } else {
        let p2 = p1 + count
        let p3 = p2 + count
        for i in 0..<count {
            let id = ids[i]
            p0.storeBytes(of: UInt8(truncatingIfNeeded: id), toByteOffset: i, as: UInt8.self)
            p1.storeBytes(of: UInt8(truncatingIfNeeded: id &>> 8), toByteOffset: i, as: UInt8.self)
            p2.storeBytes(of: UInt8(truncatingIfNeeded: id &>> 16), toByteOffset: i, as: UInt8.self)
            p3.storeBytes(of: UInt8(truncatingIfNeeded: id &>> 24), toByteOffset: i, as: UInt8.self)
        }
    }
}

/// Rebuilds `count` ids from their byte planes at `src` (which must not overlap `ids`).
func unshuffle(_ src: UnsafeRawPointer, count: Int, width: TokenWidth, into ids: UnsafeMutablePointer<UInt32>) {
    // Plain loops over typed pointers: LLVM vectorises them (with a runtime overlap check).
    let p0 = src.bindMemory(to: UInt8.self, capacity: count * width.byteCount)
    let p1 = p0 + count
    if width == .two {
        for i in 0..<count {
            ids[i] = UInt32(p0[i]) | UInt32(p1[i]) &<< 8
        }
    } else {
        let p2 = p1 + count
        let p3 = p2 + count
        for i in 0..<count {
            ids[i] = UInt32(p0[i]) | UInt32(p1[i]) &<< 8 | UInt32(p2[i]) &<< 16 | UInt32(p3[i]) &<< 24
        }
    }
}

/// Widens `count` little-endian `UInt16`s stored at byte offset 2 × count of `buffer` into
/// `UInt32`s at its start, in place. Going forwards in chunks of 8 is safe: a chunk is loaded
/// before it is stored, and its store (bytes 4i..<4i+32) ends at or before the next unread
/// chunk (byte 2·count + 2i + 16) because i ≤ count − 8; the scalar tail does the same per id.
func widenUInt16InPlace(_ buffer: UnsafeMutableRawPointer, count: Int) {
    let src = UnsafeRawPointer(buffer) + 2 * count
    let lanes = 8
    var i = 0
    #if _endian(little)
        while i + lanes <= count {
            let chunk = src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
            buffer.storeBytes(of: SIMD8<UInt32>(truncatingIfNeeded: chunk), toByteOffset: 4 * i, as: SIMD8<UInt32>.self)
            i += lanes
        }
    #endif
    while i < count {
        let value = UInt16(littleEndian: src.load(fromByteOffset: 2 * i, as: UInt16.self))
        buffer.storeBytes(of: UInt32(value), toByteOffset: 4 * i, as: UInt32.self)
        i += 1
    }
}

/// Converts `count` ids stored little-endian to host order (a no-op on little-endian hosts).
@inline(__always)
func littleEndianToHost(_ ids: UnsafeMutablePointer<UInt32>, count: Int) {
    #if _endian(big)
        for i in 0..<count { ids[i] = UInt32(littleEndian: ids[i]) }
    #endif
}
