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

/// Reads `count` codes from `src` into `ids` and returns how many bytes they took.
///
/// `src` must be readable for 5 × count bytes: reading stays inside that bound whatever the bytes
/// are (each code is at most 5 bytes), so a corrupt stream yields a wrong length, never an
/// over-read; the caller compares the returned length with the stream's.
func readPrefixCodes(_ src: UnsafeRawPointer, count: Int, into ids: UnsafeMutablePointer<UInt32>) -> Int {
    var p = 0
    var i = 0
    // Two-byte loads while at least 2 bytes of the bound remain past p: p ≤ 5i and i < count - 1.
    while i < count - 1 {
        let pair = UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: p, as: UInt16.self)))
        let first = pair & 0xFF
        if first == UInt32(prefixCodeEscape) {
            ids[i] = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self))
            p += 5
        } else {
            // Branch-free choice between the one- and two-byte forms.
            let long = first &>> 7
            let mask = 0 &- long
            let two = prefixCodeOneByteLimit &+ ((first & 0x7F) &<< 8 | pair &>> 8)
            ids[i] = (two & mask) | (first & ~mask)
            p += 1 + Int(long)
        }
        i += 1
    }
    while i < count {
        let first = UInt32(src.load(fromByteOffset: p, as: UInt8.self))
        if first < prefixCodeOneByteLimit {
            ids[i] = first
            p += 1
        } else if first != UInt32(prefixCodeEscape) {
            let second = UInt32(src.load(fromByteOffset: p + 1, as: UInt8.self))
            ids[i] = prefixCodeOneByteLimit &+ ((first & 0x7F) &<< 8 | second)
            p += 2
        } else {
            ids[i] = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: p + 1, as: UInt32.self))
            p += 5
        }
        i += 1
    }
    return p
}
