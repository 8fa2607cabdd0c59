// A loopback TCP port that was free a moment ago, or 0 when none was found. Header-only: any
// test target can use it without linking.
//
// The port is taken BELOW the kernel's ephemeral range (net.ipv4.ip_local_port_range): a port
// from bind(0) would be released and could be handed to any other process's connect() or
// bind(0) (tests run in parallel, the driver tests open many sockets) before the test binds it.
// Ports are tried from a per-process random start, in sequence, so that two test processes
// rarely try the same one and one process never returns the same port twice.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace vigil::testing {

namespace detail {

inline bool loopbackPortFree(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    ::close(fd);
    return ok;
}

inline int ephemeralLow() {
    int low = 32768, high = 60999;
    if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
        if (std::fscanf(f, "%d %d", &low, &high) != 2) low = 32768;
        std::fclose(f);
    }
    return low;
}

}  // namespace detail

inline int freeLoopbackPort() {
    static const int low = 10000;
    static const int high = detail::ephemeralLow() > low + 1000 ? detail::ephemeralLow() : 32768;
    const int span = high - low;
    static std::atomic<unsigned> cursor{[] {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<unsigned>(::getpid()) * 7919u ^ static_cast<unsigned>(ts.tv_nsec);
    }()};
    for (int attempt = 0; attempt < 2000; ++attempt) {
        const int port = low + static_cast<int>(cursor.fetch_add(1) % static_cast<unsigned>(span));
        if (detail::loopbackPortFree(port)) return port;
    }
    return 0;
}

}  // namespace vigil::testing
