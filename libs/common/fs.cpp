// File-system helpers.
#include "libs/common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace vigil::fs {

Result<std::string> readFile(const std::string& path, uint64_t max_bytes) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return makeError("cannot open {}: {}", path, std::strerror(errno));
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return makeError("cannot read {}: {}", path, std::strerror(e));
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > max_bytes) {
            ::close(fd);
            return makeError("{} is larger than {} bytes", path, max_bytes);
        }
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

static Status writeAll(int fd, std::string_view data, const std::string& path) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return makeError("cannot write {}: {}", path, std::strerror(errno));
        }
        off += static_cast<size_t>(n);
    }
    return okStatus();
}

Status writeFileAtomic(const std::string& path, std::string_view data, int mode) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return makeError("cannot create {}: {}", tmp, std::strerror(errno));
    Status st = writeAll(fd, data, tmp);
    if (st.ok() && ::fsync(fd) != 0) st = makeError("cannot fsync {}: {}", tmp, std::strerror(errno));
    ::close(fd);
    if (!st.ok()) {
        ::unlink(tmp.c_str());
        return st;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return makeError("cannot rename {} to {}: {}", tmp, path, std::strerror(e));
    }
    int dfd = ::open(dirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return okStatus();
}

Status makeDirs(const std::string& path, int mode) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return makeError("cannot create directory {}: {}", path, ec.message());
    ::chmod(path.c_str(), static_cast<mode_t>(mode));
    return okStatus();
}

Status removeAll(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return makeError("cannot remove {}: {}", path, ec.message());
    return okStatus();
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string dirName(const std::string& path) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos) return ".";
    if (pos == 0) return "/";
    return path.substr(0, pos);
}

std::string joinPath(std::string_view a, std::string_view b) {
    if (a.empty()) return std::string(b);
    if (!b.empty() && b.front() == '/') return std::string(b);
    std::string out(a);
    if (out.back() != '/') out += '/';
    out += b;
    return out;
}

uint64_t diskUsage(const std::string& path) {
    std::error_code ec;
    uint64_t total = 0;
    if (!std::filesystem::exists(path, ec)) return 0;
    for (auto it = std::filesystem::recursive_directory_iterator(
             path, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    }
    return total;
}

}  // namespace vigil::fs
