// Enrichment caches: passwd names, executable hashes, container ids, nodenames, root pid ns.
#include "plugins/driver/src/enrich.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "libs/common/crypto.h"
#include "libs/common/fs.h"

namespace vigil::driver {
namespace {

constexpr uint64_t kCgroupFileMax = 64ull * 1024;

bool isLowerHex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

size_t mix(size_t seed, uint64_t v) {
    return seed ^ (std::hash<uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (seed << 6) + (seed >> 2));
}

// The last run of exactly 64 lowercase hex digits in a line; "" when none.
std::string_view lastId(std::string_view line) {
    constexpr size_t kIdLen = 64;
    std::string_view found;
    size_t i = 0;
    while (i < line.size()) {
        if (!isLowerHex(line[i])) {
            ++i;
            continue;
        }
        size_t start = i;
        while (i < line.size() && isLowerHex(line[i])) ++i;
        if (i - start == kIdLen) found = line.substr(start, kIdLen);
    }
    return found;
}

}  // namespace

std::string containerIdFromCgroupText(std::string_view cgroup_text) {
    size_t pos = 0;
    while (pos < cgroup_text.size()) {
        size_t eol = cgroup_text.find('\n', pos);
        if (eol == std::string_view::npos) eol = cgroup_text.size();
        std::string_view line = cgroup_text.substr(pos, eol - pos);
        pos = eol + 1;
        // "hierarchy-id:controllers:path": only the path names a container.
        size_t colon = line.find(':');
        if (colon != std::string_view::npos) colon = line.find(':', colon + 1);
        if (colon != std::string_view::npos) line.remove_prefix(colon + 1);
        std::string_view id = lastId(line);
        if (!id.empty()) return std::string(id);
    }
    return {};
}

size_t Enricher::ExeKeyHash::operator()(const ExeKey& k) const {
    size_t h = mix(0, k.dev);
    h = mix(h, k.ino);
    h = mix(h, static_cast<uint64_t>(k.mtime));
    return mix(h, k.size);
}

size_t Enricher::ProcKeyHash::operator()(const ProcKey& k) const {
    size_t h = mix(0, k.tgid);
    h = mix(h, k.start_time);
    return mix(h, k.cgroup_id);
}

Enricher::Enricher(EnricherOptions options)
    : options_(std::move(options)),
      users_(options_.user_capacity),
      exe_hashes_(options_.exe_hash_capacity),
      containers_(options_.container_capacity),
      nodenames_(options_.nodename_capacity) {}

void Enricher::checkPasswd() {
    auto now = std::chrono::steady_clock::now();
    if (passwd_.known && now - passwd_checked_ < options_.passwd_check_interval) return;
    passwd_checked_ = now;
    struct stat st {};
    PasswdState current;
    if (::stat(options_.passwd_path.c_str(), &st) == 0) {
        current.known = true;
        current.mtime_ns =
            static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        current.size = static_cast<uint64_t>(st.st_size);
        current.ino = st.st_ino;
    }
    bool changed = current.mtime_ns != passwd_.mtime_ns || current.size != passwd_.size ||
                   current.ino != passwd_.ino;
    if (passwd_.known && changed) {
        users_.clear();
        ++stats_.passwd_reloads;
    }
    // Unreadable: remember it as known, so the next check happens after the interval too.
    current.known = true;
    passwd_ = current;
}

std::string Enricher::username(uint32_t uid) {
    checkPasswd();
    if (const std::string* name = users_.find(uid)) {
        ++stats_.user_hits;
        return *name;
    }
    ++stats_.user_misses;
    long hint = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 16384);
    struct passwd pw {};
    struct passwd* result = nullptr;
    int rc = 0;
    // NSS (LDAP, sssd) entries can need more room than the hint.
    while ((rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result)) == ERANGE &&
           buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 2);
    }
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
        ++stats_.user_errors;
        return {};
    }
    std::string name = result != nullptr && result->pw_name != nullptr ? result->pw_name : "";
    users_.put(uid, name);
    return name;
}

Enricher::HashOutcome Enricher::hashFile(const std::string& path, uint64_t ino, std::string* hex,
                                         ExeKey* key) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return HashOutcome::kUnreadable;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return HashOutcome::kUnreadable;
    }
    if (ino != 0 && st.st_ino != ino) {
        ::close(fd);
        return HashOutcome::kWrongFile;
    }
    if (key->ino == 0) {
        *key = ExeKey{kernelDev(st.st_dev), st.st_ino, static_cast<int64_t>(st.st_mtim.tv_sec),
                      static_cast<uint64_t>(st.st_size)};
    }
    if (static_cast<uint64_t>(st.st_size) > options_.exe_hash_max_bytes) {
        ::close(fd);
        return HashOutcome::kTooLarge;
    }
    crypto::Sha256 sha;
    char buf[64 * 1024];
    uint64_t total = 0;
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return HashOutcome::kUnreadable;
        }
        if (n == 0) break;
        total += static_cast<uint64_t>(n);
        if (total > options_.exe_hash_max_bytes) {  // grew while being read
            ::close(fd);
            return HashOutcome::kTooLarge;
        }
        sha.update(std::string_view(buf, static_cast<size_t>(n)));
    }
    ::close(fd);
    *hex = sha.finalHex();
    return HashOutcome::kHashed;
}

std::string Enricher::exeHash(std::string_view path, uint64_t ino, uint32_t dev, int64_t mtime,
                              uint64_t size, uint32_t tgid) {
    ExeKey key{dev, ino, mtime, size};
    if (ino != 0) {
        if (const std::string* cached = exe_hashes_.find(key)) {
            ++stats_.exe_hash_hits;
            return *cached;
        }
    }
    ++stats_.exe_hash_misses;
    if (ino != 0 && size > options_.exe_hash_max_bytes) {  // too large by the event alone
        ++stats_.exe_hash_too_large;
        exe_hashes_.put(key, "-");
        return "-";
    }
    std::string hex;
    HashOutcome outcome = HashOutcome::kUnreadable;
    if (tgid != 0) {
        outcome =
            hashFile(options_.proc_root + "/" + std::to_string(tgid) + "/exe", ino, &hex, &key);
    }
    if ((outcome == HashOutcome::kUnreadable || outcome == HashOutcome::kWrongFile) &&
        !path.empty()) {
        outcome = hashFile(std::string(path), ino, &hex, &key);
    }
    switch (outcome) {
        case HashOutcome::kHashed:
            exe_hashes_.put(key, hex);
            return hex;
        case HashOutcome::kTooLarge:
            ++stats_.exe_hash_too_large;
            exe_hashes_.put(key, "-");
            return "-";
        case HashOutcome::kWrongFile:
        case HashOutcome::kUnreadable:
            break;
    }
    // Not cached: the file may be readable through another process's /proc/<pid>/exe later.
    ++stats_.exe_hash_unreadable;
    return "-";
}

std::string Enricher::containerId(uint32_t tgid, uint64_t start_time, uint64_t cgroup_id) {
    ProcKey key{tgid, start_time, cgroup_id};
    if (start_time != 0) {
        if (const std::string* cached = containers_.find(key)) {
            ++stats_.container_hits;
            return *cached;
        }
    }
    ++stats_.container_misses;
    auto text =
        fs::readFile(options_.proc_root + "/" + std::to_string(tgid) + "/cgroup", kCgroupFileMax);
    if (!text.ok()) return {};  // gone: not cached, the pid may be reused
    std::string id = containerIdFromCgroupText(*text);
    if (start_time != 0) containers_.put(key, id);
    return id;
}

uint32_t Enricher::rootPns() {
    if (!root_pns_read_) {
        root_pns_read_ = true;
        struct stat st {};
        if (::stat((options_.proc_root + "/1/ns/pid").c_str(), &st) == 0) {
            root_pns_ = static_cast<uint32_t>(st.st_ino);
        }
    }
    return root_pns_;
}

std::string Enricher::ownHostname() {
    struct utsname uts {};
    if (::uname(&uts) != 0) return {};
    return uts.nodename;
}

std::string Enricher::nodename(uint32_t uts_ns_inum, uint32_t tgid) {
    if (!own_uts_read_) {
        own_uts_read_ = true;
        struct stat st {};
        if (::stat((options_.proc_root + "/self/ns/uts").c_str(), &st) == 0) {
            own_uts_ = static_cast<uint32_t>(st.st_ino);
        }
    }
    if (uts_ns_inum == 0 && tgid != 0) {
        struct stat st {};
        std::string ns = options_.proc_root + "/" + std::to_string(tgid) + "/ns/uts";
        if (::stat(ns.c_str(), &st) == 0) uts_ns_inum = static_cast<uint32_t>(st.st_ino);
    }
    if (uts_ns_inum != 0) {
        if (const std::string* cached = nodenames_.find(uts_ns_inum)) {
            ++stats_.nodename_hits;
            return *cached;
        }
        if (uts_ns_inum == own_uts_) {
            // Cached; an exec event in our namespace refreshes it after a hostname change.
            std::string name = ownHostname();
            nodenames_.put(uts_ns_inum, name);
            return name;
        }
    }
    ++stats_.nodename_fallbacks;
    return ownHostname();
}

void Enricher::noteNodename(uint32_t uts_ns_inum, std::string_view name) {
    if (uts_ns_inum == 0 || name.empty()) return;
    if (std::string* cached = nodenames_.find(uts_ns_inum)) {
        if (*cached != name) *cached = std::string(name);
        return;
    }
    nodenames_.put(uts_ns_inum, std::string(name));
}

EnricherStats Enricher::stats() const {
    EnricherStats s = stats_;
    s.evictions = users_.evictions() + exe_hashes_.evictions() + containers_.evictions() +
                  nodenames_.evictions();
    return s;
}

}  // namespace vigil::driver
