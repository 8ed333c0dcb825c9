import AirlockToolchain
import Foundation
import Testing

/// Ports for services that stop and start again are chosen where the kernel never hands them out on
/// its own, so a stopped deployment finds its port free when it starts again.
struct LoopbackPortTests {
    @Test func servicePortsLieOutsideTheEphemeralRangeAndAreFree() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let range = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(range.count == 2)
        var chosen: Set<Int> = []
        for _ in 0..<20 {
            let port = try LoopbackPort.freeForService(excluding: chosen)
            #expect(!(range[0]...range[1]).contains(port), "\(port) is in the ephemeral range \(range)")
            #expect(!chosen.contains(port), "an excluded port came back")
            #expect(!LoopbackPort.accepts(port))
            chosen.insert(port)
        }
        // The kernel's own choice for port 0 is in the ephemeral range: the reason for the above.
        #expect((range[0]...range[1]).contains(try LoopbackPort.free()))
    }

    @Test func aServicePortIsNeverOneThatSomethingListensOn() throws {
        // Occupy a block of the pool; none of those may come back.
        var listeners: [Int32] = []
        defer { listeners.forEach { close($0) } }
        var taken: Set<Int> = []
        for port in 10_000..<10_200 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if ok == 0, listen(fd, 1) == 0 { listeners.append(fd); taken.insert(port) } else { close(fd) }
        }
        for _ in 0..<200 {
            let port = try LoopbackPort.freeForService()
            #expect(!taken.contains(port))
        }
    }
}
