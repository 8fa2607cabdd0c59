// flood: a benchmark plugin that writes records of a fixed size to fd 4 as fast as it can.
// DETAIL: "count=N size=BYTES" (defaults 1000000 and 200). Each record carries a `seq` field so
// receivers can count distinct records; then the plugin idles until fd 3 closes.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"

namespace {

uint64_t detailValue(const char* detail, const char* key, uint64_t fallback) {
    if (!detail) return fallback;
    const char* p = std::strstr(detail, key);
    if (!p) return fallback;
    return std::strtoull(p + std::strlen(key), nullptr, 10);
}

bool writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

}  // namespace

int main() {
    const char* detail = std::getenv("DETAIL");
    const uint64_t count = detailValue(detail, "count=", 1000000);
    const uint64_t size = detailValue(detail, "size=", 200);
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    // Filler so that the whole frame is `size` bytes (the fixed part is ~95 bytes).
    std::string filler(size > 110 ? size - 110 : 1, 'x');
    std::string pid = std::to_string(::getpid());
    vigil::wire::Buffer buf(1 << 20);
    vigil::wire::RecordEncoder enc(buf);
    for (uint64_t i = 0; i < count; ++i) {
        enc.begin(59, now)
            .field("seq", i)
            .field("pid", pid)
            .field("exe", "/usr/bin/bench-flood")
            .field("comm", "flood")
            .field("uid", 0)
            .field("argv", filler)
            .end();
        if (buf.size() >= (256 << 10)) {
            if (!writeAll(4, buf.data(), buf.size())) return 1;
            buf.clear();
        }
    }
    if (!buf.empty() && !writeAll(4, buf.data(), buf.size())) return 1;
    std::fprintf(stderr, "flood: wrote %llu records\n", static_cast<unsigned long long>(count));
    char c;
    while (::read(3, &c, 1) > 0) {
    }
    return 0;
}
