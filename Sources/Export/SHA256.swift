import Crypto

/// SHA-256, incremental, for the checksums of exported files and checkpoint digests: a thin
/// face over swift-crypto's `SHA256` (BoringSSL's assembly on Linux, CryptoKit on Apple), kept
/// so that callers hash raw buffers and read the digest as hex without importing Crypto.
///
/// `@unchecked Sendable`: swift-crypto 3's `SHA256` is a value with copy-on-write state (its
/// context object is copied before any update unless uniquely referenced, and `finalize()` only
/// reads it), so a copy sent to another task is independent; it just does not declare so.
public struct SHA256: @unchecked Sendable {
    private var hasher = Crypto.SHA256()

    public init() {}

    /// Adds `bytes` to the hash.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    /// Adds `bytes` to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
    }

    /// The digest of everything added so far, as 64 lowercase hex digits; the hash can go on
    /// taking bytes afterwards.
    public func hexDigest() -> String {
        let digest = hasher.finalize()
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(Self.hexDigits[Int(byte >> 4)])
            hex.append(Self.hexDigits[Int(byte & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
