import Export
import Foundation

/// The sha256 of a checkpoint folder, independent of how the files were written.
///
/// Every regular file under the folder (recursively; symbolic links are followed to their
/// content), in byte order of its relative path (`/`-separated, UTF-8), contributes
/// `path 0x00 size(8 bytes, big-endian) content`. Lower-case hex.
public enum CheckpointDigest {
    /// A checkpoint folder that cannot be digested.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The digest and file count of `folder`; throws when it holds no files.
    public static func digest(of folder: String) throws -> (sha256: String, files: Int) {
        let root = URL(fileURLWithPath: folder).standardizedFileURL
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else {
            throw Failure(description: "cannot read the checkpoint folder \(folder)")
        }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let full = root.appendingPathComponent(relative).path
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files.append(relative)
        }
        guard !files.isEmpty else { throw Failure(description: "the checkpoint folder \(folder) holds no files") }
        files.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for relative in files {
            let full = root.appendingPathComponent(relative).path
            guard let handle = FileHandle(forReadingAtPath: full) else { throw Failure(description: "cannot read \(full)") }
            defer { try? handle.close() }
            let size = try FileManager.default.attributesOfItem(atPath: full)[.size] as? UInt64 ?? 0
            hash.update(Array(relative.utf8) + [0])
            hash.update((0..<8).map { UInt8(truncatingIfNeeded: size >> (56 - 8 * UInt64($0))) })
            var total: UInt64 = 0
            while true {
                let count = buffer.withUnsafeMutableBytes { raw in
                    read(handle.fileDescriptor, raw.baseAddress, raw.count)
                }
                if count < 0 { throw Failure(description: "cannot read \(full): \(String(cString: strerror(errno)))") }
                if count == 0 { break }
                buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                total += UInt64(count)
            }
            guard total == size else { throw Failure(description: "\(full) changed size while it was digested (\(size) → \(total) bytes)") }
        }
        return (hash.hexDigest(), files.count)
    }
}
