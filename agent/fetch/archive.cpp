// tar.gz extraction with libarchive's reader; files are written with openat(O_NOFOLLOW) under
// a directory fd so no entry can reach outside the destination.
#include "agent/fetch/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace vigil::agent::fetch {
namespace {

struct ArchiveCloser {
    void operator()(archive* a) const { archive_read_free(a); }
};

class DirFd {
public:
    explicit DirFd(int fd = -1) : fd_(fd) {}
    ~DirFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    DirFd(const DirFd&) = delete;
    DirFd& operator=(const DirFd&) = delete;
    DirFd(DirFd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    DirFd& operator=(DirFd&& o) noexcept {
        std::swap(fd_, o.fd_);
        return *this;
    }
    int get() const { return fd_; }

private:
    int fd_;
};

// Opens (creating when needed) the directory `name` under `parent` without following links.
Result<DirFd> openSubdir(int parent, const std::string& name) {
    if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) {
        return makeError("cannot create directory {}: {}", name, std::strerror(errno));
    }
    int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return makeError("{} is not a directory: {}", name, std::strerror(errno));
    return DirFd(fd);
}

Status writeEntry(archive* a, int fd, const std::string& path, uint64_t& total,
                  uint64_t max_bytes) {
    char buf[64 * 1024];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
        if (n == 0) return okStatus();
        if (n < 0)
            return makeError("cannot read {} from the archive: {}", path, archive_error_string(a));
        total += static_cast<uint64_t>(n);
        if (total > max_bytes) {
            return makeError("archive contents are larger than {} bytes", max_bytes);
        }
        const char* p = buf;
        size_t left = static_cast<size_t>(n);
        while (left > 0) {
            ssize_t w = ::write(fd, p, left);
            if (w < 0) {
                if (errno == EINTR) continue;
                return makeError("cannot write {}: {}", path, std::strerror(errno));
            }
            p += w;
            left -= static_cast<size_t>(w);
        }
    }
}

}  // namespace

Result<std::vector<std::string>> safeComponents(const std::string& path) {
    if (path.empty()) return makeError("archive entry with an empty path");
    if (path.front() == '/') return makeError("archive entry with an absolute path: {}", path);
    std::vector<std::string> parts;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string::npos) end = path.size();
        std::string part = path.substr(pos, end - pos);
        if (part == "..") return makeError("archive entry escapes the directory: {}", path);
        if (!part.empty() && part != ".") parts.push_back(std::move(part));
        pos = end + 1;
    }
    return parts;
}

Status extractTarGz(const std::string& archive_path, const std::string& dest,
                    const ExtractLimits& limits) {
    std::unique_ptr<archive, ArchiveCloser> a(archive_read_new());
    if (!a) return makeError("libarchive: out of memory");
    archive_read_support_filter_gzip(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), archive_path.c_str(), 64 * 1024) != ARCHIVE_OK) {
        return makeError("cannot open the archive: {}", archive_error_string(a.get()));
    }
    DirFd root(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (root.get() < 0) return makeError("cannot open {}: {}", dest, std::strerror(errno));

    uint64_t total = 0;
    size_t entries = 0;
    archive_entry* entry = nullptr;
    for (;;) {
        int rc = archive_read_next_header(a.get(), &entry);
        if (rc == ARCHIVE_EOF) break;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            return makeError("bad archive: {}", archive_error_string(a.get()));
        }
        if (++entries > limits.max_entries) {
            return makeError("archive has more than {} entries", limits.max_entries);
        }
        const char* raw = archive_entry_pathname(entry);
        std::string path = raw ? raw : "";
        if (archive_entry_hardlink(entry)) {
            return makeError("archive entry {} is a hard link (not allowed)", path);
        }
        if (archive_entry_symlink(entry) || archive_entry_filetype(entry) == AE_IFLNK) {
            return makeError("archive entry {} is a symbolic link (not allowed)", path);
        }
        auto type = archive_entry_filetype(entry);
        if (type != AE_IFREG && type != AE_IFDIR) {
            return makeError("archive entry {} is a device, fifo or socket (not allowed)", path);
        }
        auto parts = safeComponents(path);
        if (!parts.ok()) return parts.error();
        if (parts->empty()) {
            if (type == AE_IFDIR) continue;  // "./"
            return makeError("archive entry with an empty path");
        }
        // Walk the directories below dest with O_NOFOLLOW, creating them as needed.
        DirFd dir(::dup(root.get()));
        if (dir.get() < 0) return makeError("dup: {}", std::strerror(errno));
        size_t dirs = type == AE_IFDIR ? parts->size() : parts->size() - 1;
        for (size_t i = 0; i < dirs; ++i) {
            auto sub = openSubdir(dir.get(), (*parts)[i]);
            if (!sub.ok()) return makeError("archive entry {}: {}", path, sub.message());
            dir = std::move(*sub);
        }
        if (type == AE_IFDIR) continue;
        const std::string& leaf = parts->back();
        // Permissions from the archive, minus setuid/setgid/sticky and group/other write.
        mode_t mode = (archive_entry_perm(entry) & 0755) | 0600;
        int fd = ::openat(dir.get(), leaf.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0) {
            return makeError("cannot create {}: {}{}", path, std::strerror(errno),
                             errno == EEXIST ? " (duplicate entry)" : "");
        }
        Status st = writeEntry(a.get(), fd, path, total, limits.max_bytes);
        if (st.ok() && ::fchmod(fd, mode) != 0) {
            st = makeError("cannot chmod {}: {}", path, std::strerror(errno));
        }
        ::close(fd);
        if (!st.ok()) return st;
    }
    return okStatus();
}

}  // namespace vigil::agent::fetch
