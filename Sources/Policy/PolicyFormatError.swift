/// Why bytes are not a serialized ``PolicyModel``.
public enum PolicyFormatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer bytes than the header.
    case truncatedHeader(length: Int)
    /// The first four bytes are not `"OPTP"`.
    case badMagic
    /// A format version this build does not read.
    case unsupportedVersion(UInt8)
    /// The header's shape does not describe this module's network (wrong input width or
    /// vocabulary, or a layer size of zero or above the limit).
    case unsupportedShape(String)
    /// The byte count is not the header plus 4 bytes per parameter of the header's shape.
    case lengthMismatch(expected: Int, got: Int)

    public var description: String {
        switch self {
        case .truncatedHeader(let length):
            "serialized policy is \(length) bytes, shorter than its \(PolicyModel.headerByteCount)-byte header"
        case .badMagic:
            "serialized policy does not start with \"OPTP\""
        case .unsupportedVersion(let version):
            "serialized policy has format version \(version), only \(PolicyModel.formatVersion) is supported"
        case .unsupportedShape(let detail):
            "serialized policy has an unsupported shape: \(detail)"
        case .lengthMismatch(let expected, let got):
            "serialized policy is \(got) bytes, its header implies \(expected)"
        }
    }
}
