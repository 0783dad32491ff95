import Foundation

/// Reads a file line by line in fixed-size chunks, so memory stays bounded by the longest line.
public struct LineReader: Sequence {
    public let path: String
    let chunkSize: Int

    /// Opens nothing yet; iteration opens the file. Throws on iteration if it cannot be read.
    public init(path: String, chunkSize: Int = 1 << 20) {
        self.path = path
        self.chunkSize = chunkSize
    }

    /// Checks that the file can be opened for reading.
    public func validate() throws {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "cannot read \(path)"])
        }
    }

    /// The file's size in bytes, for progress reporting.
    public var byteCount: Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }

    public func makeIterator() -> Iterator {
        Iterator(handle: FileHandle(forReadingAtPath: path), chunkSize: chunkSize)
    }

    /// Yields (1-based line number, line bytes without the newline, bytes consumed so far).
    public struct Iterator: IteratorProtocol {
        let handle: FileHandle?
        let chunkSize: Int
        var buffer: [UInt8] = []
        var start = 0
        var lineNumber = 0
        var consumed: Int64 = 0
        var finished = false

        init(handle: FileHandle?, chunkSize: Int) {
            self.handle = handle
            self.chunkSize = chunkSize
            finished = handle == nil
        }

        public mutating func next() -> (number: Int, bytes: ArraySlice<UInt8>, consumed: Int64)? {
            while true {
                if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    var line = buffer[start..<newline]
                    if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                    consumed += Int64(newline + 1 - start)
                    start = newline + 1
                    lineNumber += 1
                    return (lineNumber, line, consumed)
                }
                if finished {
                    guard start < buffer.count else { return nil }
                    let line = buffer[start...]
                    consumed += Int64(buffer.count - start)
                    start = buffer.count
                    lineNumber += 1
                    return (lineNumber, line, consumed)
                }
                buffer.removeFirst(start)
                start = 0
                let chunk = handle?.readData(ofLength: chunkSize) ?? Data()
                if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
            }
        }
    }
}
