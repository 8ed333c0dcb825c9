import AirlockCore
import Foundation

/// Free TCP ports on loopback.
public enum LoopbackPort {
    /// A port the kernel reports free on 127.0.0.1 right now (bind to port 0, read it back, close).
    ///
    /// It comes from the kernel's ephemeral range, so it suits something that listens at once (a test
    /// server). A service that must get its port back after it stopped wants `freeForService()`.
    public static func free() throws(AirlockError) -> Int {
        try bound(to: 0)
    }

    /// A port free on 127.0.0.1 right now and outside the kernel's ephemeral range
    /// (`net.ipv4.ip_local_port_range`), for a service that keeps its port across stops and restarts.
    ///
    /// A port from the ephemeral range is handed by the kernel to whoever binds port 0 next: while a
    /// deployment was stopped for a switch, another program's listener took its web port (seen in CI),
    /// and the deploy and the restart of the previous one both failed with "already in use".
    /// - Parameter excluding: ports already chosen for something else.
    public static func freeForService(excluding: Set<Int> = []) throws(AirlockError) -> Int {
        let ephemeral = ephemeralRange()
        // Below the ephemeral range when there is room (the usual 32768–60999 leaves 10000–32767), else above it.
        let pool = ephemeral.lowerBound > 11_000 ? 10_000...(ephemeral.lowerBound - 1)
                                                 : min(ephemeral.upperBound + 1, 65_535)...65_535
        for _ in 0..<500 {
            let port = Int.random(in: pool)
            if !excluding.contains(port), (try? bound(to: port)) != nil { return port }
        }
        throw .environment("No free port on 127.0.0.1 in \(pool.lowerBound)–\(pool.upperBound) (outside the ephemeral range \(ephemeral.lowerBound)–\(ephemeral.upperBound)).")
    }

    /// The kernel's ephemeral port range; Linux's default when it cannot be read.
    static func ephemeralRange() -> ClosedRange<Int> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let bounds = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard bounds.count == 2, 0 < bounds[0], bounds[0] <= bounds[1], bounds[1] <= 65_535 else { return 32_768...60_999 }
        return bounds[0]...bounds[1]
    }

    /// Binds a socket on 127.0.0.1:`port` (0: the kernel chooses), closes it and returns the port it had.
    private static func bound(to port: Int) throws(AirlockError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .environment("Cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw .environment("Cannot bind a socket on 127.0.0.1:\(port)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw .environment("Cannot read the port of a bound socket") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
