// The proc connector fallback source: netlink subscription, message validation, and the
// /proc reads that fill a record the way driver.bpf.c fills it from the task. See proc_source.h.
#include "plugins/driver/src/proc_source.h"

#include "plugins/driver/src/process_table.h"

#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <mntent.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "plugins/driver/src/event_decoder.h"

namespace vigil::driver {

// One connector event, copied out of the message (which need not be aligned).
struct ProcSource::Event {
    proc_event ev{};
    size_t data_len = 0;   // bytes of ev.event_data the kernel sent
    uint64_t boot_ns = 0;  // ev.timestamp_ns (CLOCK_MONOTONIC) moved to CLOCK_BOOTTIME
};

namespace {

constexpr int kRcvBufBytes = 4 << 20;
constexpr int kAckTimeoutMs = 2000;
constexpr size_t kRecvBufBytes = 64 * 1024;
constexpr size_t kMaxDatagramsPerPoll = 4096;
constexpr size_t kMaxPending = 1024;
constexpr size_t kSmallFileMax = 8 * 1024;  // stat, status, cgroup, sessionid
// The kernel programs write at most VG_MAX_RECORD - 1 bytes (offsets are masked below it).
constexpr size_t kRecordBudget = VG_MAX_RECORD - 1;

constexpr size_t kEventHeadBytes = offsetof(proc_event, event_data);
// C++ scopes the C header's nested structs inside proc_event's union.
using EventData = decltype(proc_event::event_data);
using ExitData = decltype(EventData::exit);

uint64_t clockNs(clockid_t clock) {
    struct timespec ts {};
    ::clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The kernel's s_dev encoding (MKDEV: major << 20 | minor), as the programs report exe_dev.
uint32_t kernelDevOf(dev_t dev) {
    return static_cast<uint32_t>((major(dev) << 20) | (minor(dev) & 0xFFFFF));
}

template <typename T>
bool parseNumber(std::string_view s, T* out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && p == s.data() + s.size();
}

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    bool ok() const { return fd_ >= 0; }

private:
    int fd_;
};

// The first max_bytes of dir/name (with dir an O_PATH descriptor of /proc/<pid>). Reads through
// the directory descriptor fail once the process is gone, even if its pid has been reused.
bool readAt(int dir, const char* name, size_t max_bytes, std::string* out) {
    Fd fd(::openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY));
    out->clear();
    if (!fd.ok()) return false;
    out->resize(max_bytes);
    size_t got = 0;
    while (got < max_bytes) {
        ssize_t n = ::read(fd.get(), out->data() + got, max_bytes - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out->clear();
            return false;
        }
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    out->resize(got);
    return true;
}

std::string linkAt(int dir, const char* name) {
    char buf[VG_MAX_STR + 64];
    ssize_t n = ::readlinkat(dir, name, buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// readlink of a file that was deleted ends in " (deleted)"; the kernel's path walk does not.
std::string withoutDeleted(std::string path, const struct stat& st) {
    constexpr std::string_view kSuffix = " (deleted)";
    if (st.st_nlink == 0 && path.size() > kSuffix.size() &&
        std::string_view(path).substr(path.size() - kSuffix.size()) == kSuffix) {
        path.resize(path.size() - kSuffix.size());
    }
    return path;
}

// The kernel's tty->name for a /proc stat tty_nr (new_encode_dev): "pts3", "tty1", "ttyS0".
std::string ttyName(uint32_t tty_nr) {
    if (tty_nr == 0) return "";
    const uint32_t maj = (tty_nr >> 8) & 0xfff;
    const uint32_t min = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    if (maj >= 136 && maj <= 143) return "pts" + std::to_string((maj - 136) * 256 + min);
    if (maj == 4 && min < 64) return "tty" + std::to_string(min);
    if (maj == 4) return "ttyS" + std::to_string(min - 64);
    return "";
}

uint32_t nsInode(int dir, const char* name) {
    struct stat st {};
    return ::fstatat(dir, name, &st, 0) == 0 ? static_cast<uint32_t>(st.st_ino) : 0;
}

// The initial (host) pid namespace: /proc/1/ns/pid, or, where pid 1 cannot be inspected (a
// sandbox), our own namespace when it is the initial one (a single NSpid entry); 0 if unknown.
uint32_t hostPidNs() {
    static const uint32_t ns = [] {
        struct stat st {};
        if (::stat("/proc/1/ns/pid", &st) == 0) return static_cast<uint32_t>(st.st_ino);
        std::ifstream in("/proc/self/status");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("NSpid:", 0) != 0) continue;
            std::istringstream ids(line.substr(6));
            int n = 0;
            std::string id;
            while (ids >> id) ++n;
            if (n == 1 && ::stat("/proc/self/ns/pid", &st) == 0) {
                return static_cast<uint32_t>(st.st_ino);
            }
        }
        return uint32_t{0};
    }();
    return ns;
}

uint8_t fdKind(mode_t mode) {
    switch (mode & S_IFMT) {
        case S_IFREG:
            return VG_FD_FILE;
        case S_IFCHR:
            return VG_FD_CHAR;
        case S_IFIFO:
            return VG_FD_PIPE;
        case S_IFSOCK:
            return VG_FD_SOCKET;
        default:
            return VG_FD_OTHER;
    }
}

std::string procPath(uint32_t pid) {
    return "/proc/" + std::to_string(pid);
}

Fd openProcDir(const std::string& path) {
    return Fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

// What /proc/<tgid> says about a process, as fill_header in driver.bpf.c reads it from the task.
struct ProcView {
    ProcStat stat;
    struct stat exe_st {};
    bool has_exe = false;
};

struct HeaderContext {
    int cgroup_root_fd;  // -1: no cgroup v2 mount
    uint64_t tick_ns;    // ns per clock tick of /proc/<pid>/stat
};

// Fills `h` from the open /proc/<tgid> directory (`task`, for a thread's own credentials, may
// be the same descriptor). False when the process is gone or is not the one the event named
// (it started after `event_boot_ns`: its pid was reused).
bool fillFromProc(const HeaderContext& ctx, int dir, int task, uint64_t event_boot_ns, vg_header* h,
                  ProcView* view) {
    std::string text;
    if (!readAt(dir, "stat", kSmallFileMax, &text) || !parseProcStat(text, &view->stat))
        return false;
    const ProcStat& st = view->stat;
    h->start_time = st.start_ticks * ctx.tick_ns;
    if (event_boot_ns != 0 && h->start_time > event_boot_ns) return false;
    h->ppid = st.ppid;
    h->pgid = st.pgid;
    h->sid = st.sid;
    std::memset(h->comm, 0, sizeof(h->comm));
    std::memcpy(h->comm, st.comm.data(), std::min(st.comm.size(), sizeof(h->comm) - 1));

    if (readAt(task, "status", kSmallFileMax, &text)) {
        std::array<uint32_t, 4> ids{};
        if (parseStatusIds(text, "Uid:", &ids)) {
            h->uid = ids[0], h->euid = ids[1], h->suid = ids[2], h->fsuid = ids[3];
        }
        if (parseStatusIds(text, "Gid:", &ids)) {
            h->gid = ids[0], h->egid = ids[1], h->sgid = ids[2], h->fsgid = ids[3];
        }
    }
    if (readAt(dir, "sessionid", kSmallFileMax, &text)) {
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        (void)parseNumber(std::string_view(text), &h->sessionid);
    }
    h->pns = nsInode(dir, "ns/pid");
    h->root_pns = hostPidNs();
    h->uts_ns = nsInode(dir, "ns/uts");
    if (::fstatat(dir, "exe", &view->exe_st, 0) == 0) {
        view->has_exe = true;
        h->exe_ino = view->exe_st.st_ino;
        h->exe_dev = kernelDevOf(view->exe_st.st_dev);
    }
    if (ctx.cgroup_root_fd >= 0 && readAt(dir, "cgroup", kSmallFileMax, &text)) {
        // The v2 line: "0::/user.slice/session-1.scope". Its directory's inode is the cgroup id.
        std::string_view all(text);
        size_t at = all.rfind("0::/");
        if (at == 0 || (at != std::string_view::npos && all[at - 1] == '\n')) {
            std::string_view path = all.substr(at + 4);
            path = path.substr(0, path.find('\n'));
            struct stat cg {};
            const std::string rel(path);
            const int rc = rel.empty() ? ::fstat(ctx.cgroup_root_fd, &cg)
                                       : ::fstatat(ctx.cgroup_root_fd, rel.c_str(), &cg, 0);
            if (rc == 0) h->cgroup_id = cg.st_ino;
        }
    }
    return true;
}

// The header of a `type` record for (pid, tgid) at `boot_ns`: from /proc when `dir` still holds
// that process (`task`: the thread's directory for its credentials, or -1), else only the event's
// own fields. True when /proc was read.
bool headerFor(const HeaderContext& ctx, const Fd& dir, int task, uint32_t type, uint32_t pid,
               uint32_t tgid, uint64_t boot_ns, vg_header* h, ProcView* view) {
    *h = vg_header{};
    const bool read =
        dir.ok() && fillFromProc(ctx, dir.get(), task >= 0 ? task : dir.get(), boot_ns, h, view);
    if (!read) *h = vg_header{};
    h->type = type;
    h->ktime_ns = boot_ns;
    h->pid = pid;
    h->tgid = tgid;
    return read;
}

// The parent and its ancestors (parent first) up to and including pid 1, as the kernel walks
// real_parent.
void fillAncestors(uint32_t ppid, vg_exec* body) {
    uint32_t next = ppid;
    std::string text;
    while (body->n_ancestors < VG_MAX_ANCESTORS && next != 0) {
        Fd dir = openProcDir(procPath(next));
        ProcStat st;
        if (!dir.ok() || !readAt(dir.get(), "stat", kSmallFileMax, &text) ||
            !parseProcStat(text, &st)) {
            break;
        }
        vg_ancestor& a = body->ancestors[body->n_ancestors++];
        a.tgid = next;
        std::memcpy(a.comm, st.comm.data(), std::min(st.comm.size(), sizeof(a.comm) - 1));
        if (next <= 1) break;
        next = st.ppid;
    }
}

// Cuts strings to their caps and to the record budget (a string always keeps its 2-byte length
// prefix, so a record always carries all its strings), and encodes the record.
struct StrSpec {
    std::string_view value;
    size_t cap;
};

std::string buildRecord(vg_header h, std::string_view body, std::array<StrSpec, VG_EXEC_NSTR> s) {
    size_t used = sizeof(vg_header) + body.size();
    std::array<std::string_view, VG_EXEC_NSTR> cut{};
    for (size_t i = 0; i < s.size(); ++i) {
        const size_t reserve = 2 * (s.size() - i);  // this prefix and the ones after it
        const size_t room = used + reserve < kRecordBudget ? kRecordBudget - used - reserve : 0;
        const size_t cap = std::min({s[i].cap, size_t{VG_MAX_STR}, room});
        cut[i] = s[i].value.substr(0, cap);
        if (cut[i].size() < s[i].value.size()) h.flags |= VG_F_TRUNCATED;
        used += 2 + cut[i].size();
    }
    return encodeEvent(h, body, {cut[0], cut[1], cut[2], cut[3], cut[4], cut[5], cut[6], cut[7]});
}

std::string recordWithoutStrings(const vg_header& h, std::string_view body) {
    return encodeEvent(h, body, {});
}

template <typename T>
std::string_view bytesOf(const T& v) {
    return std::string_view(reinterpret_cast<const char*>(&v), sizeof(T));
}

// Sends one connector control message: PROC_CN_MCAST_LISTEN or _IGNORE.
// The kernel's ack carries `ack` + 1 (its seq is overwritten with a per-CPU counter), so `ack` is
// what tells our acknowledgement from those of other listeners.
bool sendControl(int fd, uint32_t port_id, uint32_t ack, proc_cn_mcast_op op) {
    constexpr size_t kLen = NLMSG_LENGTH(sizeof(cn_msg) + sizeof(proc_cn_mcast_op));
    alignas(nlmsghdr) uint8_t msg[kLen] = {};
    auto* nl = reinterpret_cast<nlmsghdr*>(msg);
    nl->nlmsg_len = kLen;
    nl->nlmsg_type = NLMSG_DONE;
    nl->nlmsg_pid = port_id;
    nl->nlmsg_seq = ack;
    cn_msg cn{};
    cn.id.idx = CN_IDX_PROC;
    cn.id.val = CN_VAL_PROC;
    cn.seq = ack;
    cn.ack = ack;
    cn.len = sizeof(proc_cn_mcast_op);
    std::memcpy(msg + NLMSG_HDRLEN, &cn, sizeof(cn));
    std::memcpy(msg + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    ssize_t n;
    do {
        n = ::sendto(fd, &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel),
                     sizeof(kernel));
    } while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(sizeof(msg));
}

// Smallest event_data the kernel sends for each event this source reads.
size_t minDataLen(uint32_t what) {
    switch (what) {
        case proc_event::PROC_EVENT_NONE:
            return sizeof(EventData::ack);
        case proc_event::PROC_EVENT_EXEC:
            return sizeof(EventData::exec);
        case proc_event::PROC_EVENT_UID:
            return sizeof(EventData::id);
        case proc_event::PROC_EVENT_SID:
            return sizeof(EventData::sid);
        case proc_event::PROC_EVENT_EXIT:  // parent_pid and parent_tgid came later
            return offsetof(ExitData, parent_pid);
        default:
            return 0;
    }
}

}  // namespace

Result<std::unique_ptr<ProcSource>> ProcSource::open(uint64_t enabled_slots, int poll_ms,
                                                     BpfSource::RecordFn on_record) {
    std::unique_ptr<ProcSource> src(new ProcSource());
    src->enabled_slots_ = enabled_slots;
    src->poll_ms_ = poll_ms < 0 ? 0 : poll_ms;
    src->on_record_ = std::move(on_record);
    src->self_tgid_ = static_cast<uint32_t>(::getpid());
    long ticks = ::sysconf(_SC_CLK_TCK);
    src->tick_ns_ = 1000000000ull / static_cast<uint64_t>(ticks > 0 ? ticks : 100);
    struct stat st {};
    if (::stat("/proc/self/ns/uts", &st) == 0) src->self_uts_ns_ = static_cast<uint32_t>(st.st_ino);
    if (std::string cg = cgroup2Mount(); !cg.empty()) {
        src->cgroup_root_fd_ = ::open(cg.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    src->buf_.resize(kRecvBufBytes);
    VIGIL_TRY(src->subscribe());
    return src;
}

Status ProcSource::subscribe() {
    fd_ = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (fd_ < 0) {
        return makeError(
            "proc connector: socket(NETLINK_CONNECTOR): {} (kernel without "
            "CONFIG_CONNECTOR?)",
            std::strerror(errno));
    }
    // Bursts of exec events (a build, a fork storm) must not overflow the socket between polls.
    int size = kRcvBufBytes;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
        (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = CN_IDX_PROC;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
        return makeError("proc connector: bind to group CN_IDX_PROC: {}{}", std::strerror(errno),
                         errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
    }
    socklen_t len = sizeof(local);
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local), &len) != 0) {
        return makeError("proc connector: getsockname: {}", std::strerror(errno));
    }
    port_id_ = local.nl_pid;
    if (!sendControl(fd_, port_id_, port_id_, PROC_CN_MCAST_LISTEN)) {
        return makeError("proc connector: sending PROC_CN_MCAST_LISTEN: {}", std::strerror(errno));
    }

    // The kernel answers with a PROC_EVENT_NONE carrying our ack number + 1 and an errno; it
    // stays silent for a requester outside the initial pid and user namespaces. Events that
    // arrive meanwhile are kept for the first poll().
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kAckTimeoutMs);
    while (true) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
            return makeError(
                "proc connector: no answer to PROC_CN_MCAST_LISTEN within {} ms (the kernel "
                "ignores requests from outside the initial pid and user namespaces)",
                kAckTimeoutMs);
        }
        pollfd pfd{fd_, POLLIN, 0};
        int rc = ::poll(&pfd, 1, static_cast<int>(left));
        if (rc < 0 && errno != EINTR) {
            return makeError("proc connector: poll: {}", std::strerror(errno));
        }
        if (rc <= 0) continue;
        sockaddr_nl from{};
        socklen_t from_len = sizeof(from);
        ssize_t n = ::recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ENOBUFS) {
                overruns_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            return makeError("proc connector: recv: {}", std::strerror(errno));
        }
        if (from.nl_pid != 0) continue;  // not from the kernel
        const auto size = static_cast<size_t>(n);
        // The ack is the single message of its datagram.
        const auto* nl = reinterpret_cast<const nlmsghdr*>(buf_.data());
        if (size >= NLMSG_LENGTH(sizeof(cn_msg) + kEventHeadBytes + sizeof(uint32_t)) &&
            nl->nlmsg_len <= size) {
            cn_msg cn{};
            std::memcpy(&cn, NLMSG_DATA(nl), sizeof(cn));
            proc_event ev{};
            std::memcpy(&ev, static_cast<const uint8_t*>(NLMSG_DATA(nl)) + sizeof(cn_msg),
                        std::min<size_t>(sizeof(ev), size - NLMSG_LENGTH(sizeof(cn_msg))));
            if (cn.id.idx == CN_IDX_PROC && cn.id.val == CN_VAL_PROC &&
                ev.what == proc_event::PROC_EVENT_NONE && cn.ack == port_id_ + 1) {
                if (ev.event_data.ack.err != 0) {
                    return makeError("proc connector: PROC_CN_MCAST_LISTEN refused: {}",
                                     std::strerror(static_cast<int>(ev.event_data.ack.err)));
                }
                listening_ = true;
                return okStatus();
            }
        }
        if (pending_.size() < kMaxPending) {
            pending_.emplace_back(reinterpret_cast<const char*>(buf_.data()), size);
        } else {
            overruns_.fetch_add(1, std::memory_order_relaxed);
        }
    }
}

ProcSource::~ProcSource() {
    if (fd_ >= 0) {
        // Only after an acknowledged LISTEN: older kernels keep one global listener count,
        // which an unmatched IGNORE would take below the other listeners' share.
        if (listening_) (void)sendControl(fd_, port_id_, port_id_ + 1, PROC_CN_MCAST_IGNORE);
        ::close(fd_);
    }
    if (cgroup_root_fd_ >= 0) ::close(cgroup_root_fd_);
}

ProcSource::Stats ProcSource::stats() const {
    Stats s;
    s.events = events_.load(std::memory_order_relaxed);
    s.exec = exec_.load(std::memory_order_relaxed);
    s.exit = exit_.load(std::memory_order_relaxed);
    s.lost = lost_.load(std::memory_order_relaxed);
    s.bad_messages = bad_messages_.load(std::memory_order_relaxed);
    s.overruns = overruns_.load(std::memory_order_relaxed);
    return s;
}

int ProcSource::poll() {
    int handled = 0;
    if (!pending_.empty()) {
        std::vector<std::string> pending;
        pending.swap(pending_);
        for (const std::string& d : pending) {
            handled += handleDatagram(reinterpret_cast<const uint8_t*>(d.data()), d.size());
        }
    }
    pollfd pfd{fd_, POLLIN, 0};
    int rc = ::poll(&pfd, 1, handled > 0 ? 0 : poll_ms_);
    if (rc < 0) return errno == EINTR ? handled : -errno;
    if (rc == 0) return handled;
    for (size_t i = 0; i < kMaxDatagramsPerPoll; ++i) {
        sockaddr_nl from{};
        iovec iov{buf_.data(), buf_.size()};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof(from);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {  // the kernel dropped events; the socket stays usable
                overruns_.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            return handled > 0 ? handled : -errno;
        }
        if ((msg.msg_flags & MSG_TRUNC) != 0 || from.nl_pid != 0) {
            bad_messages_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        handled += handleDatagram(buf_.data(), static_cast<size_t>(n));
    }
    return handled;
}

int ProcSource::handleDatagram(const uint8_t* data, size_t size) {
    // Monotonic → boot clock, once per datagram: the connector stamps with ktime_get_ns().
    const uint64_t mono_to_boot = clockNs(CLOCK_BOOTTIME) - clockNs(CLOCK_MONOTONIC);
    int emitted = 0;
    size_t left = size;
    // NLMSG_OK/NLMSG_NEXT want an int length and an aligned header; copy each header out.
    while (left >= sizeof(nlmsghdr)) {
        nlmsghdr nl{};
        std::memcpy(&nl, data, sizeof(nl));
        if (nl.nlmsg_len < sizeof(nlmsghdr) || nl.nlmsg_len > left) break;
        const uint8_t* payload = data + NLMSG_HDRLEN;
        const size_t payload_len = nl.nlmsg_len - std::min<size_t>(nl.nlmsg_len, NLMSG_HDRLEN);
        const size_t step = std::min<size_t>(NLMSG_ALIGN(nl.nlmsg_len), left);
        data += step;
        left -= step;

        if (nl.nlmsg_type == NLMSG_NOOP || nl.nlmsg_type == NLMSG_ERROR) continue;
        if (nl.nlmsg_type == NLMSG_OVERRUN) {
            overruns_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        cn_msg cn{};
        if (payload_len < sizeof(cn_msg)) {
            bad_messages_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        std::memcpy(&cn, payload, sizeof(cn));
        if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC ||
            cn.len > payload_len - sizeof(cn_msg) || cn.len < kEventHeadBytes) {
            bad_messages_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        Event event;
        std::memcpy(&event.ev, payload + sizeof(cn_msg),
                    std::min<size_t>(cn.len, sizeof(proc_event)));
        event.data_len = cn.len - kEventHeadBytes;
        if (event.data_len < minDataLen(event.ev.what)) {
            bad_messages_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        event.boot_ns = event.ev.timestamp_ns + mono_to_boot;
        events_.fetch_add(1, std::memory_order_relaxed);
        emitted += handleEvent(event);
    }
    if (left != 0) bad_messages_.fetch_add(1, std::memory_order_relaxed);
    return emitted;
}

void ProcSource::emit(const std::string& record) {
    if (on_record_) {
        on_record_(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(record.data()),
                                            record.size()));
    }
}

int ProcSource::handleEvent(const Event& event) {
    switch (event.ev.what) {
        case proc_event::PROC_EVENT_EXEC:
            return enabled(VG_SLOT_EXECVE) ? handleExec(event) : 0;
        case proc_event::PROC_EVENT_EXIT:
            return enabled(VG_SLOT_EXIT) ? handleExit(event) : 0;
        case proc_event::PROC_EVENT_UID:
            return enabled(VG_SLOT_CRED) ? handleIdChange(event) : 0;
        case proc_event::PROC_EVENT_SID:
            return enabled(VG_SLOT_SETSID) ? handleIdChange(event) : 0;
        default:  // fork, gid, ptrace (no request), comm, coredump, acks
            return 0;
    }
}

int ProcSource::handleExec(const Event& event) {
    const proc_event& ev = event.ev;
    const auto tgid = static_cast<uint32_t>(ev.event_data.exec.process_tgid);
    if (tgid == self_tgid_) return 0;
    Fd dir = openProcDir(procPath(tgid));
    // argv and the environment first: they vanish with the mm as the process exits,
    // while stat and the rest last until it is reaped. One byte past each cap, so that
    // a cut is seen and flagged.
    std::string argv, env;
    if (dir.ok()) {
        (void)readAt(dir.get(), "cmdline", VG_ARGV_MAX + 1, &argv);
        (void)readAt(dir.get(), "environ", VG_ENV_MAX + 1, &env);
    }
    vg_header h;
    ProcView view;
    // After exec the calling thread leads the group: pid = tgid.
    if (!headerFor({cgroup_root_fd_, tick_ns_}, dir, -1, VG_EXECVE, tgid, tgid, event.boot_ns, &h,
                   &view) ||
        view.stat.state == 'Z' || view.stat.state == 'X') {
        lost_.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }
    vg_exec body{};
    struct stat fst {};
    std::string stdin_path, stdout_path;
    if (::fstatat(dir.get(), "fd/0", &fst, 0) == 0) {
        body.stdin_kind = fdKind(fst.st_mode);
        body.stdin_ino = fst.st_ino;
        if (body.stdin_kind == VG_FD_FILE || body.stdin_kind == VG_FD_CHAR) {
            stdin_path = withoutDeleted(linkAt(dir.get(), "fd/0"), fst);
        }
    }
    if (::fstatat(dir.get(), "fd/1", &fst, 0) == 0) {
        body.stdout_kind = fdKind(fst.st_mode);
        body.stdout_ino = fst.st_ino;
        if (body.stdout_kind == VG_FD_FILE || body.stdout_kind == VG_FD_CHAR) {
            stdout_path = withoutDeleted(linkAt(dir.get(), "fd/1"), fst);
        }
    }
    std::string exe;
    if (view.has_exe) {
        body.exe_size = static_cast<uint64_t>(view.exe_st.st_size);
        body.exe_mtime = view.exe_st.st_mtim.tv_sec;
        exe = withoutDeleted(linkAt(dir.get(), "exe"), view.exe_st);
    }
    fillAncestors(view.stat.ppid, &body);
    const std::string cwd = linkAt(dir.get(), "cwd");
    const std::string tty = ttyName(view.stat.tty_nr);
    std::string nodename;
    struct utsname uts {};
    if (h.uts_ns != 0 && h.uts_ns == self_uts_ns_ && ::uname(&uts) == 0) {
        nodename = uts.nodename;
    }
    emit(buildRecord(h, bytesOf(body),
                     {{{exe, VG_MAX_STR},
                       {argv, VG_ARGV_MAX},
                       {cwd, VG_MAX_STR},
                       {tty, 64},
                       {env, VG_ENV_MAX},
                       {stdin_path, VG_MAX_STR},
                       {stdout_path, VG_MAX_STR},
                       {nodename, 64}}}));
    exec_.fetch_add(1, std::memory_order_relaxed);
    return 1;
}

int ProcSource::handleExit(const Event& event) {
    const proc_event& ev = event.ev;
    const auto& e = ev.event_data.exit;
    if (e.process_pid != e.process_tgid) return 0;  // a thread, not the process
    const auto tgid = static_cast<uint32_t>(e.process_tgid);
    if (tgid == self_tgid_) return 0;
    // Usually still there as a zombie until the parent reaps it.
    Fd dir = openProcDir(procPath(tgid));
    vg_header h;
    ProcView view;
    (void)headerFor({cgroup_root_fd_, tick_ns_}, dir, -1, VG_EXIT, tgid, tgid, event.boot_ns, &h,
                    &view);
    if (event.data_len >= sizeof(ExitData) && e.parent_tgid > 0) {
        h.ppid = static_cast<uint32_t>(e.parent_tgid);
    }
    h.ret = static_cast<vg_s32>(e.exit_code);
    emit(recordWithoutStrings(h, {}));
    exit_.fetch_add(1, std::memory_order_relaxed);
    return 1;
}

// PROC_EVENT_UID (reported when the real or effective uid is now 0) and PROC_EVENT_SID.
int ProcSource::handleIdChange(const Event& event) {
    const proc_event& ev = event.ev;
    const bool uid = ev.what == proc_event::PROC_EVENT_UID;
    // id and sid events both begin with process_pid, process_tgid.
    const auto pid =
        static_cast<uint32_t>(uid ? ev.event_data.id.process_pid : ev.event_data.sid.process_pid);
    const auto tgid =
        static_cast<uint32_t>(uid ? ev.event_data.id.process_tgid : ev.event_data.sid.process_tgid);
    if (tgid == self_tgid_) return 0;
    if (uid && ev.event_data.id.r.ruid != 0 && ev.event_data.id.e.euid != 0) return 0;
    Fd dir = openProcDir(procPath(tgid));
    Fd task = pid == tgid ? Fd() : openProcDir(procPath(tgid) + "/task/" + std::to_string(pid));
    vg_header h;
    ProcView view;
    (void)headerFor({cgroup_root_fd_, tick_ns_}, dir, task.get(), uid ? VG_CRED_CHANGE : VG_SETSID,
                    pid, tgid, event.boot_ns, &h, &view);
    if (!uid) {
        h.sid = tgid;
        h.ret = static_cast<vg_s32>(tgid);  // setsid() returns the new session id
        emit(recordWithoutStrings(h, {}));
        return 1;
    }
    h.uid = ev.event_data.id.r.ruid;
    h.euid = ev.event_data.id.e.euid;
    vg_cred body{};
    if (h.ppid != 0) {
        Fd pdir = openProcDir(procPath(h.ppid));
        std::string text;
        std::array<uint32_t, 4> ids{};
        if (pdir.ok() && readAt(pdir.get(), "status", kSmallFileMax, &text) &&
            parseStatusIds(text, "Uid:", &ids)) {
            body.parent_uid = ids[0];
            body.parent_euid = ids[1];
        }
    }
    emit(recordWithoutStrings(h, bytesOf(body)));
    return 1;
}

}  // namespace vigil::driver
