import Foundation
import Testing
import TokenCodec

/// The shared test vectors in `Vectors/`, also checked by `tools/token_blob.py check`.
@Suite("Shared test vectors")
struct VectorTests {
    struct Vector: Decodable, CustomTestStringConvertible {
        var name = ""
        var ids: [UInt32]?
        var width: UInt8?
        var shuffled: Bool?
        var version: UInt8?
        var error: String?
        var testDescription: String { name }
        private enum CodingKeys: String, CodingKey { case ids, width, shuffled, version, error }
    }

    static func load() throws -> [(Vector, [UInt8])] {
        let directory = try #require(Bundle.module.url(forResource: "Vectors", withExtension: nil))
        let specs = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
        return try specs.sorted { $0.lastPathComponent < $1.lastPathComponent }.map { url in
            var vector = try JSONDecoder().decode(Vector.self, from: Data(contentsOf: url))
            vector.name = url.deletingPathExtension().lastPathComponent
            let blob = try Data(contentsOf: url.deletingPathExtension().appendingPathExtension("blob"))
            return (vector, [UInt8](blob))
        }
    }

    @Test("the vectors are bundled, valid and invalid ones both")
    func vectorsArePresent() throws {
        let vectors = try Self.load()
        #expect(vectors.count >= 20)
        #expect(vectors.contains { $0.0.ids != nil } && vectors.contains { $0.0.error != nil })
    }

    @Test("valid vectors decode to their ids with their version, width and shuffle")
    func validVectorsDecode() throws {
        for (vector, blob) in try Self.load() {
            guard let ids = vector.ids else { continue }
            #expect(try TokenCodec.decode(blob) == ids, "\(vector.name)")
            let header = try TokenCodec.header(of: blob)
            #expect(header.count == ids.count, "\(vector.name)")
            #expect(header.version == vector.version ?? 1, "\(vector.name)")
            if header.isPrefixCoded { continue }
            #expect(header.width.rawValue == vector.width, "\(vector.name)")
            #expect(header.shuffled == vector.shuffled, "\(vector.name)")
        }
    }

    @Test("the Swift v2 encoder writes the vectors' headers and round-trips their ids")
    func prefixCodedVectorsMatchTheSwiftEncoder() throws {
        // LZ4 encoders may pick different matches (the vectors come from both this encoder and
        // tools/token_blob.py), so blocks are compared by what they decode to.
        let v2 = try Self.load().filter { $0.0.version == 2 && $0.0.ids != nil }
        #expect(v2.count >= 3)
        for (vector, blob) in v2 {
            let ids = vector.ids ?? []
            let swift = TokenCodec.encodePrefixCoded(ids)
            #expect(Array(swift.prefix(8)) == Array(blob.prefix(8)), "\(vector.name)")
            #expect(try TokenCodec.decode(swift) == ids, "\(vector.name)")
        }
    }

    @Test("invalid vectors are rejected with the named error")
    func invalidVectorsAreRejected() throws {
        for (vector, blob) in try Self.load() {
            guard let kind = vector.error else { continue }
            switch decodeResult(blob) {
            case .success(let ids):
                Issue.record("\(vector.name) decoded to \(ids.count) ids, expected \(kind)")
            case .failure(let error):
                #expect(error.kind == kind, "\(vector.name): \(error)")
            }
        }
    }
}
