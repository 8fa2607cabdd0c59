// Download, verification and atomic installation of one plugin.
#include "agent/fetch/install.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agent/fetch/archive.h"
#include "agent/fetch/download.h"
#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::agent::fetch {
namespace {

std::string baseName(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? path : path.substr(pos + 1);
}

void fsyncDir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

// Tries every URL into `fd`; returns the URL whose body has the wanted hash.
Result<std::string> downloadAny(const FetchRequest& req, int fd) {
    std::string failures;
    DownloadOptions options{req.max_bytes, req.timeout, req.ca_file};
    for (const auto& url : req.urls) {
        if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
            return makeError("cannot reset the download file: {}", std::strerror(errno));
        }
        auto got = downloadTo(url, fd, options);
        std::string why;
        if (!got.ok()) {
            why = got.message();
        } else if (*got != req.sha256) {
            why = "sha256 mismatch: want " + req.sha256 + ", got " + *got;
        } else {
            if (::fsync(fd) != 0) return makeError("fsync: {}", std::strerror(errno));
            return url;
        }
        if (!failures.empty()) failures += "; ";
        failures += url + ": " + why;
    }
    return makeError("no URL gave the expected download: {}", failures);
}

Result<FetchResult> installExec(const FetchRequest& req) {
    VIGIL_TRY(fs::makeDirs(req.dest));
    std::string tmp = fs::joinPath(req.dest, "." + req.name + ".download-" + crypto::randomHex(6));
    int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return makeError("cannot create {}: {}", tmp, std::strerror(errno));
    auto url = downloadAny(req, fd);
    Status st = okStatus();
    if (url.ok() && ::fchmod(fd, 0755) != 0) st = makeError("chmod: {}", std::strerror(errno));
    ::close(fd);
    if (!url.ok() || !st.ok()) {
        ::unlink(tmp.c_str());
        return url.ok() ? st.error() : url.error();
    }
    std::string target = fs::joinPath(req.dest, req.name);
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return makeError("cannot install {}: {}", target, std::strerror(e));
    }
    fsyncDir(req.dest);
    return FetchResult{*url, req.sha256, req.sha256};
}

Result<FetchResult> installTarGz(const FetchRequest& req) {
    std::string parent = fs::dirName(req.dest);
    VIGIL_TRY(fs::makeDirs(parent));
    const std::string base = baseName(req.dest);
    const std::string suffix = crypto::randomHex(6);
    std::string archive = fs::joinPath(parent, "." + base + ".download-" + suffix + ".tar.gz");
    std::string staging = fs::joinPath(parent, "." + base + ".extract-" + suffix);
    int fd = ::open(archive.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return makeError("cannot create {}: {}", archive, std::strerror(errno));
    auto url = downloadAny(req, fd);
    ::close(fd);
    auto cleanup = [&] {
        ::unlink(archive.c_str());
        (void)fs::removeAll(staging);
    };
    if (!url.ok()) {
        cleanup();
        return url.error();
    }
    if (::mkdir(staging.c_str(), 0755) != 0) {
        int e = errno;
        cleanup();
        return makeError("cannot create {}: {}", staging, std::strerror(e));
    }
    Status st = extractTarGz(archive, staging, ExtractLimits{req.max_bytes});
    std::string exe = fs::joinPath(staging, req.name);
    struct stat sb;
    if (st.ok() && (::lstat(exe.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode))) {
        st = makeError("the archive has no regular file {} at its top level", req.name);
    }
    if (st.ok() && ::chmod(exe.c_str(), 0755) != 0) {
        st = makeError("chmod {}: {}", exe, std::strerror(errno));
    }
    Result<std::string> exe_hash =
        st.ok() ? crypto::sha256FileHex(exe) : Result<std::string>(st.error());
    if (!exe_hash.ok()) {
        cleanup();
        return exe_hash.error();
    }
    // Swap the new directory in atomically; the old one ends up at `staging` and is removed.
    if (fs::exists(req.dest)) {
        if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, req.dest.c_str(), RENAME_EXCHANGE) !=
            0) {
            int e = errno;
            cleanup();
            return makeError("cannot replace {}: {}", req.dest, std::strerror(e));
        }
    } else if (::rename(staging.c_str(), req.dest.c_str()) != 0) {
        int e = errno;
        cleanup();
        return makeError("cannot install {}: {}", req.dest, std::strerror(e));
    }
    fsyncDir(parent);
    cleanup();
    return FetchResult{*url, req.sha256, *exe_hash};
}

}  // namespace

Result<FetchResult> fetchPlugin(const FetchRequest& request) {
    if (request.urls.empty()) return makeError("no URL given");
    if (request.type == "exec") return installExec(request);
    if (request.type == "tar.gz") return installTarGz(request);
    return makeError("unknown type '{}' (exec or tar.gz)", request.type);
}

}  // namespace vigil::agent::fetch
