import Foundation

/// Small helpers over the C library: error texts and user accounts.
enum SystemError {
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}

/// A user account of the operating system.
struct SystemUser: Sendable, Equatable {
    let name: String
    let uid: uid_t
    let gid: gid_t

    static var effectiveUID: uid_t { geteuid() }

    static func named(_ name: String) -> SystemUser? {
        lookUp { pwd, buffer, size, result in getpwnam_r(name, &pwd, buffer, size, &result) }
    }

    static func withID(_ uid: uid_t) -> SystemUser? {
        lookUp { pwd, buffer, size, result in getpwuid_r(uid, &pwd, buffer, size, &result) }
    }

    private static func lookUp(
        _ call: (inout passwd, UnsafeMutablePointer<CChar>, Int, inout UnsafeMutablePointer<passwd>?) -> Int32
    ) -> SystemUser? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var size = 4096
        while true {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            defer { buffer.deallocate() }
            let status = call(&pwd, buffer, size, &result)
            if status == ERANGE && size < 1 << 20 {
                size *= 4
                continue
            }
            guard status == 0, result != nil, let name = pwd.pw_name else { return nil }
            return SystemUser(name: String(cString: name), uid: pwd.pw_uid, gid: pwd.pw_gid)
        }
    }
}
