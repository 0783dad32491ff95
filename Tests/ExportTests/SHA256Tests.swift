import Export
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    func digest(_ text: String) -> String {
        var hash = SHA256()
        hash.update(Array(text.utf8))
        return hash.hexDigest()
    }

    @Test func knownVectorsMatch() {
        #expect(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func incrementalUpdatesEqualOneUpdate() {
        let text = String(repeating: "optune ", count: 300)
        var pieces = SHA256()
        var bytes = Array(text.utf8)[...]
        for size in [1, 63, 64, 65, 127, 500] where !bytes.isEmpty {
            pieces.update(Array(bytes.prefix(size)))
            bytes = bytes.dropFirst(size)
        }
        pieces.update(Array(bytes))
        #expect(pieces.hexDigest() == digest(text))
    }

    @Test func aMillionAsMatchTheStandardVector() {
        var hash = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hash.update(chunk) }
        #expect(hash.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
