#include "plugins/driver/src/event_format.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <map>

#include "libs/common/fs.h"
#include "plugins/driver/src/dns.h"

namespace vigil::driver {

namespace {

std::string_view commOf(const vg_header& h) {
    return std::string_view(h.comm, strnlen(h.comm, sizeof h.comm));
}

bool underSystemDir(std::string_view exe) {
    for (std::string_view dir : {"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/lib/",
                                 "/usr/libexec/", "/lib/", "/usr/local/bin/"}) {
        if (exe.substr(0, dir.size()) == dir) return true;
    }
    return false;
}

// A path argument resolved against its base directory ("" for an absolute path).
std::string resolvePath(std::string_view base, std::string_view path) {
    if (!base.empty() && path.substr(0, 2) == "./") path.remove_prefix(2);
    return fs::joinPath(base, path);
}

const char* fdKindText(uint8_t kind) {
    switch (kind) {
        case VG_FD_FILE:
            return "file";
        case VG_FD_CHAR:
            return "char";
        case VG_FD_PIPE:
            return "pipe";
        case VG_FD_SOCKET:
            return "socket";
        case VG_FD_OTHER:
            return "other";
        default:
            return "";
    }
}

// The /dev path of a character device (kernel encoding: major << 20 | minor): pty slaves
// by their numbering, others by the DEVNAME sysfs gives. Cached; "" when unknown.
std::string charDevicePath(uint32_t rdev) {
    static std::map<uint32_t, std::string> cache;
    if (auto it = cache.find(rdev); it != cache.end()) return it->second;
    const uint32_t major = rdev >> 20, minor = rdev & 0xfffff;
    std::string path;
    if (major >= 136 && major <= 143) {
        path = "/dev/pts/" + std::to_string((major - 136) * 256 + minor);
    } else {
        std::ifstream in("/sys/dev/char/" + std::to_string(major) + ":" + std::to_string(minor) +
                         "/uevent");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("DEVNAME=", 0) == 0) path = "/dev/" + line.substr(8);
        }
    }
    if (cache.size() < 4096) cache.emplace(rdev, path);
    return path;
}

// stdin/stdout as Elkeid shows them: the path of a terminal or file, else "pipe:[ino]" or
// "socket:[ino]".
std::string fdText(uint8_t kind, uint64_t ino, uint32_t rdev, std::string_view path) {
    if (!path.empty()) return std::string(path);
    if (kind == VG_FD_CHAR && rdev != 0) {
        std::string dev = charDevicePath(rdev);
        if (!dev.empty()) return dev;
    }
    if (kind == VG_FD_PIPE || kind == VG_FD_SOCKET) {
        return std::string(fdKindText(kind)) + ":[" + std::to_string(ino) + "]";
    }
    return fdKindText(kind);
}

const char* protoText(uint16_t proto) {
    switch (proto) {
        case 6:
            return "tcp";
        case 17:
            return "udp";
        case 1:
            return "icmp";
        case 58:
            return "icmpv6";
        default:
            return "";
    }
}

void writeSock(sdk::RecordWriter& w, const vg_sockaddr& a, bool with_dest) {
    if (with_dest) {
        w.field("dip", ipText(a.family, a.daddr)).field("dport", portHost(a.dport));
    }
    w.field("sip", ipText(a.family, a.saddr))
        .field("sport", portHost(a.sport))
        .field("sa_family", a.family);
}

bool isRoot(uint32_t uid, uint32_t euid) {
    return uid == 0 || euid == 0;
}

}  // namespace

std::string ipText(uint16_t family, const uint8_t* addr) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (family == AF_INET) {
        ::inet_ntop(AF_INET, addr, buf, sizeof buf);
    } else if (family == AF_INET6) {
        ::inet_ntop(AF_INET6, addr, buf, sizeof buf);
    }
    return buf;
}

uint16_t portHost(uint16_t net_port) {
    return ntohs(net_port);
}

std::string credText(const vg_header& h) {
    std::string out;
    for (uint32_t v : {h.uid, h.euid, h.suid, h.fsuid, h.gid, h.egid, h.sgid, h.fsgid}) {
        if (!out.empty()) out += '|';
        out += std::to_string(v);
    }
    return out;
}

std::string envValue(std::string_view env, std::string_view name) {
    size_t pos = 0;
    while (pos < env.size()) {
        size_t end = env.find('\0', pos);
        if (end == std::string_view::npos) end = env.size();
        std::string_view entry = env.substr(pos, end - pos);
        if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
            entry[name.size()] == '=') {
            return std::string(entry.substr(name.size() + 1));
        }
        pos = end + 1;
    }
    return "";
}

EventFormatter::EventFormatter(sdk::Client& client, FormatterOptions options)
    : client_(client),
      options_(std::move(options)),
      processes_(options_.process_capacity),
      commons_(options_.process_capacity),
      generations_(options_.process_capacity) {}

void EventFormatter::handle(std::span<const uint8_t> raw) {
    DecodedEvent ev;
    DecodeError err = decodeEvent(raw, ev);
    if (err != DecodeError::kNone) {
        ++stats_.bad;
        ++stats_.bad_by_cause[decodeErrorName(err)];
        return;
    }
    switch (ev.hdr.type) {
        case VG_PROC_SNAPSHOT:
            onSnapshot(ev);
            return;
        case VG_EXECVE:
            onExec(ev);
            break;
        case VG_CRED_CHANGE:
            onCred(ev);
            return;
        default:
            checkEscalation(ev);
            break;
    }
    writeEvent(ev);
}

void EventFormatter::onSnapshot(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    ++stats_.snapshot;
    const ProcessInfo* known = processes_.findOrLoad(h.tgid, h.start_time);
    ProcessInfo info = known ? *known : ProcessInfo{};
    info.tgid = h.tgid;
    info.ppid = h.ppid;
    info.pgid = h.pgid;
    info.start_time = h.start_time;
    info.comm = std::string(commOf(h));
    if (!ev.str(0).empty()) info.exe = std::string(ev.str(0));
    info.nodename = std::string(ev.str(1));
    info.uid = h.uid;
    info.euid = h.euid;
    info.exe_ino = h.exe_ino;
    info.exe_dev = h.exe_dev;
    info.from_proc = false;  // the kernel's view of the ids is the baseline
    if (!info.nodename.empty()) enricher_.noteNodename(h.uts_ns, info.nodename);
    if (options_.on_system_exe && h.exe_ino && underSystemDir(info.exe)) {
        options_.on_system_exe(h.exe_ino, h.exe_dev);
    }
    processes_.upsert(std::move(info));
}

void EventFormatter::onExec(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    if (h.ret != 0) return;  // a failed exec changes nothing
    const auto body = ev.bodyAs<vg_exec>();
    // A program that starts as root although the process (or, for a new process, its parent)
    // was last seen non-root, and the executable is not setuid/setgid: root from nowhere.
    if (isRoot(h.uid, h.euid) && !(body.exe_mode & (S_ISUID | S_ISGID))) {
        const ProcessInfo* before = processes_.find(h.tgid, h.start_time);
        if (!before || before->from_proc) before = processes_.find(h.ppid);
        if (before && !before->from_proc && !isRoot(before->uid, before->euid)) {
            writeEscalation(ev, before->tgid, before->uid, before->euid);
        }
    }
    ProcessInfo info;
    info.tgid = h.tgid;
    info.ppid = h.ppid;
    info.pgid = h.pgid;
    info.start_time = h.start_time;
    info.comm = std::string(commOf(h));
    info.exe = std::string(ev.str(0));
    info.argv = joinArgv(ev.str(1));
    info.nodename = std::string(ev.str(7));
    info.uid = h.uid;
    info.euid = h.euid;
    info.exe_ino = h.exe_ino;
    info.exe_dev = h.exe_dev;
    const size_t n = std::min<size_t>(body.n_ancestors, VG_MAX_ANCESTORS);
    for (size_t i = 0; i < n; ++i) {
        const vg_ancestor& a = body.ancestors[i];
        uint32_t parent = i + 1 < n ? body.ancestors[i + 1].tgid : 0;
        processes_.noteAncestor(a.tgid, std::string_view(a.comm, strnlen(a.comm, VG_COMM_LEN)),
                                parent);
    }
    if (!info.nodename.empty()) enricher_.noteNodename(h.uts_ns, info.nodename);
    if (options_.on_system_exe && h.exe_ino && underSystemDir(info.exe)) {
        options_.on_system_exe(h.exe_ino, h.exe_dev);
    }
    processes_.upsert(std::move(info));
    generations_.put(h.tgid, next_generation_++);
    // The exe hash with the full cache key (mtime and size are only known at exec).
    Common* c = commons_.find(h.tgid);
    if (c) c->generation = 0;  // recompute
}

const EventFormatter::Common& EventFormatter::common(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    const uint64_t* gen = generations_.find(h.tgid);
    const uint64_t generation = gen ? *gen : 0;
    Common* c = commons_.find(h.tgid);
    if (c && c->start_time == h.start_time && c->generation == generation && c->ppid == h.ppid &&
        c->pgid == h.pgid && c->uid == h.uid && c->comm == commOf(h)) {
        ++stats_.cache_hits;
        return *c;
    }
    ++stats_.cache_misses;
    Common fresh;
    fresh.start_time = h.start_time;
    fresh.generation = generation;
    fresh.ppid = h.ppid;
    fresh.pgid = h.pgid;
    fresh.uid = h.uid;
    fresh.comm = std::string(commOf(h));
    const bool exec_ok = h.type == VG_EXECVE && h.ret == 0;
    if (exec_ok) {
        fresh.exe = std::string(ev.str(0));
        fresh.argv = joinArgv(ev.str(1));
        fresh.nodename = std::string(ev.str(7));
    } else if (const ProcessInfo* self = processes_.findOrLoad(h.tgid, h.start_time)) {
        fresh.exe = self->exe;
        fresh.argv = self->argv;
        fresh.nodename = self->nodename;
    }
    // The parent, looked up once: its argv, and its program for a process we cannot name.
    if (const ProcessInfo* parent = h.ppid != 0 ? processes_.findOrLoad(h.ppid) : nullptr) {
        fresh.ppid_argv = parent->argv;
        if (fresh.exe.empty() && (h.exe_ino == 0 || parent->exe_ino == h.exe_ino)) {
            // Gone before /proc could be read, or never exec'ed since we started: a forked
            // child runs its parent's program (had it exec'ed, the exec event would name it).
            fresh.exe = parent->exe;
            fresh.argv = parent->argv;
        }
    }
    if (h.pgid == h.tgid) {
        fresh.pgid_argv = fresh.argv;
    } else if (h.pgid != 0) {
        if (const ProcessInfo* p = processes_.findOrLoad(h.pgid)) fresh.pgid_argv = p->argv;
    }
    if (fresh.nodename.empty()) fresh.nodename = enricher_.nodename(h.uts_ns, h.tgid);
    fresh.username = enricher_.username(h.uid);
    fresh.pid_tree = processes_.pidTree(h.tgid, fresh.comm, h.ppid);
    if (exec_ok) {
        const auto body = ev.bodyAs<vg_exec>();
        fresh.exe_hash = enricher_.exeHash(fresh.exe, h.exe_ino, h.exe_dev, body.exe_mtime,
                                           body.exe_size, h.tgid);
    } else if (!fresh.exe.empty()) {
        fresh.exe_hash = enricher_.exeHash(fresh.exe, h.exe_ino, h.exe_dev, 0, 0, h.tgid);
    }
    const CgroupKey ck{h.cgroup_id, h.pns};
    if (const std::string* known = containers_.find(ck)) {
        fresh.container_id = *known;
    } else {
        fresh.container_id = enricher_.containerId(h.tgid, h.start_time, h.cgroup_id);
        // A process that was gone before /proc could be read says nothing about its
        // container: an empty answer is kept only for the host's own pid namespace.
        if (!fresh.container_id.empty() || h.pns == h.root_pns)
            containers_.put(ck, fresh.container_id);
    }
    return *commons_.put(h.tgid, std::move(fresh));
}

void EventFormatter::writeCommon(sdk::RecordWriter& w, const DecodedEvent& ev, const Common& c) {
    const vg_header& h = ev.hdr;
    w.field("uid", h.uid)
        .field("exe", c.exe)
        .field("pid", h.pid)
        .field("ppid", h.ppid)
        .field("pgid", h.pgid)
        .field("tgid", h.tgid)
        .field("sid", h.sid)
        .field("comm", c.comm)
        .field("nodename", c.nodename)
        .field("sessionid", h.sessionid)
        .field("pns", h.pns)
        .field("root_pns", h.root_pns)
        .field("argv", c.argv)
        .field("ppid_argv", c.ppid_argv)
        .field("pgid_argv", c.pgid_argv)
        .field("username", c.username)
        .field("pid_tree", c.pid_tree)
        .field("exe_hash", c.exe_hash)
        .field("container_id", c.container_id);
}

void EventFormatter::onCred(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    const auto body = ev.bodyAs<vg_cred>();
    uint32_t old_uid = body.parent_uid, old_euid = body.parent_euid;
    bool known = false;
    // A process seen by the kernel side before (exec, snapshot, an earlier call) has its own
    // last ids; one known only from /proc (read after this call) or not at all (a forked
    // child) is compared with its parent's.
    ProcessInfo updated;
    if (const ProcessInfo* p = processes_.findOrLoad(h.tgid, h.start_time)) {
        if (!p->from_proc) {
            old_uid = p->uid;
            old_euid = p->euid;
            known = true;
        }
        updated = *p;
    } else {
        updated.tgid = h.tgid;
        updated.ppid = h.ppid;
        updated.pgid = h.pgid;
        updated.start_time = h.start_time;
        updated.comm = std::string(commOf(h));
    }
    updated.uid = h.uid;
    updated.euid = h.euid;
    // Kernel-known from now on: compared by the exact start time (a /proc one has tick
    // precision only, and would read as another process).
    updated.start_time = h.start_time;
    updated.from_proc = false;
    processes_.upsert(std::move(updated));
    if (!(isRoot(h.uid, h.euid) && !isRoot(old_uid, old_euid))) return;
    const Common& c = common(ev);
    auto w = client_.record(VG_CRED_CHANGE);
    writeCommon(w, ev, c);
    w.field("old_uid", old_uid)
        .field("old_euid", old_euid)
        .field("new_uid", h.uid)
        .field("new_euid", h.euid)
        .field("new_suid", h.suid)
        .field("syscall", body.syscall)
        .field("old_from", known ? "process" : "parent")
        .send();
    ++stats_.records;
}

void EventFormatter::checkEscalation(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    if (h.flags & VG_F_KTHREAD) return;
    const ProcessInfo* p = processes_.findOrLoad(h.tgid, h.start_time);
    if (!p || p->from_proc) {
        // Not seen by the kernel side yet: the ids of this first event are the baseline.
        ProcessInfo baseline = p ? *p : ProcessInfo{};
        baseline.tgid = h.tgid;
        baseline.ppid = h.ppid;
        baseline.pgid = h.pgid;
        baseline.start_time = h.start_time;
        if (baseline.comm.empty()) baseline.comm = std::string(commOf(h));
        baseline.from_proc = false;
        baseline.uid = h.uid;
        baseline.euid = h.euid;
        processes_.upsert(std::move(baseline));
        return;
    }
    const uint32_t old_uid = p->uid, old_euid = p->euid;
    if (old_uid == h.uid && old_euid == h.euid) return;
    processes_.updateCreds(h.tgid, h.uid, h.euid);
    if (!isRoot(h.uid, h.euid) || isRoot(old_uid, old_euid)) return;
    writeEscalation(ev, h.tgid, old_uid, old_euid);
}

void EventFormatter::writeEscalation(const DecodedEvent& ev, uint32_t seen_pid, uint32_t old_uid,
                                     uint32_t old_euid) {
    const vg_header& h = ev.hdr;
    const Common& c = common(ev);
    auto w = client_.record(kDataTypePrivilegeEscalation);
    writeCommon(w, ev, c);
    w.field("p_pid", seen_pid)
        .field("p_cred", std::to_string(old_uid) + "|" + std::to_string(old_euid))
        .field("c_cred", credText(h))
        .field("trigger", h.type)
        .send();
    ++stats_.records;
    ++stats_.escalations;
}

void EventFormatter::writeEvent(const DecodedEvent& ev) {
    const vg_header& h = ev.hdr;
    int32_t dt = static_cast<int32_t>(h.type);
    // DNS first: a packet that is not a DNS message is not an event.
    DnsMessage dns;
    if (h.type == VG_DNS) {
        auto parsed = parseDns(ev.str(0));
        if (!parsed.ok() || !parsed->response) {
            ++stats_.bad;
            ++stats_.bad_by_cause[parsed.ok() ? "dns_not_a_response" : "dns_malformed"];
            return;
        }
        dns = std::move(*parsed);
    }
    const Common& c = common(ev);
    auto w = client_.record(dt);
    writeCommon(w, ev, c);
    switch (h.type) {
        case VG_EXECVE: {
            const auto b = ev.bodyAs<vg_exec>();
            std::string_view env = ev.str(4);
            w.field("run_path", ev.str(2))
                .field("tty", ev.str(3))
                .field("stdin", fdText(b.stdin_kind, b.stdin_ino, b.stdin_rdev, ev.str(5)))
                .field("stdout", fdText(b.stdout_kind, b.stdout_ino, b.stdout_rdev, ev.str(6)))
                .field("ld_preload", envValue(env, "LD_PRELOAD"))
                .field("ssh_connection", envValue(env, "SSH_CONNECTION"))
                .field("res", h.ret);
            if (h.ret != 0) w.field("exe_path_asked", ev.str(0));
            if (b.stdin_kind == VG_FD_SOCKET && b.stdin_sock.family != 0) {
                writeSock(w, b.stdin_sock, true);
            }
            break;
        }
        case VG_CONNECT:
        case VG_ACCEPT: {
            const auto b = ev.bodyAs<vg_sock_event>();
            writeSock(w, b.addr, true);
            w.field("protocol", protoText(b.addr.protocol)).field("res", h.ret);
            break;
        }
        case VG_BIND: {
            const auto b = ev.bodyAs<vg_sock_event>();
            writeSock(w, b.addr, false);
            w.field("protocol", protoText(b.addr.protocol)).field("res", h.ret);
            break;
        }
        case VG_RENAME:
        case VG_LINK:
            w.field("old_name", resolvePath(ev.str(2), ev.str(0)))
                .field("new_name", resolvePath(ev.str(3), ev.str(1)))
                .field("res", h.ret);
            break;
        case VG_UNLINK:
            w.field("file_path", resolvePath(ev.str(1), ev.str(0))).field("res", h.ret);
            break;
        case VG_OPEN:
        case VG_FILE_CREATE:
        case VG_WRITE:
        case VG_READ: {
            const auto b = ev.bodyAs<vg_file_event>();
            w.field("file_path", ev.str(0)).field("flags", b.flags).field("mode", b.mode);
            w.field("res", h.ret);
            break;
        }
        case VG_PTRACE: {
            const auto b = ev.bodyAs<vg_ptrace>();
            w.field("ptrace_request", b.request)
                .field("target_pid", b.target_pid)
                .field("addr", b.addr)
                .field("data", b.data)
                .field("res", h.ret);
            break;
        }
        case VG_SETSID:
            w.field("res", h.ret);
            break;
        case VG_PRCTL: {
            const auto b = ev.bodyAs<vg_prctl>();
            w.field("option", b.option).field("newname", ev.str(0)).field("res", h.ret);
            break;
        }
        case VG_MOUNT: {
            const auto b = ev.bodyAs<vg_mount>();
            w.field("dev_name", ev.str(0))
                .field("file_path", ev.str(1))
                .field("fstype", ev.str(2))
                .field("flags", b.flags)
                .field("option", ev.str(3))
                .field("res", h.ret);
            break;
        }
        case VG_MEMFD_CREATE: {
            const auto b = ev.bodyAs<vg_memfd>();
            w.field("fdname", ev.str(0)).field("flags", b.flags).field("res", h.ret);
            break;
        }
        case VG_DNS: {
            const auto b = ev.bodyAs<vg_dns>();
            std::string answers;
            for (const auto& a : dns.answers) {
                if (!answers.empty()) answers += ',';
                answers += a;
            }
            w.field("query", dns.query)
                .field("type", dns.qtypeName())
                .field("rcode", dns.rcode)
                .field("opcode", dns.opcode)
                .field("answers", answers);
            writeSock(w, b.addr, true);
            break;
        }
        case VG_MODULE_LOAD:
            w.field("mod_name", ev.str(0));
            break;
        case VG_KILL: {
            const auto b = ev.bodyAs<vg_kill>();
            w.field("target_pid", b.target_pid).field("sig", b.sig).field("res", h.ret);
            break;
        }
        case VG_EXIT:
            w.field("exit_code", h.ret);
            break;
        default:
            break;
    }
    w.send();
    ++stats_.records;
}

}  // namespace vigil::driver
