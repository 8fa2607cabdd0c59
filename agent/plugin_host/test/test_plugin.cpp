// A plugin for the plugin host's tests; DETAIL ("mode=emit count=5 ...") chooses what it does.
// Every process first sends a hello record (data_type 900: pid, detail, start time in ms).
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "libs/wire/batch.h"
#include "libs/wire/frame.h"
#include "libs/wire/record.h"

namespace {

using vigil::wire::Buffer;
using vigil::wire::RecordEncoder;

constexpr int kTaskFd = 3;
constexpr int kRecordFd = 4;

std::map<std::string, std::string> g_args;

std::string arg(const std::string& key, const std::string& fallback = "") {
    auto it = g_args.find(key);
    return it == g_args.end() ? fallback : it->second;
}
long argInt(const std::string& key, long fallback) {
    auto it = g_args.find(key);
    return it == g_args.end() ? fallback : std::strtol(it->second.c_str(), nullptr, 10);
}

int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void writeAll(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            ::_exit(errno == EPIPE ? 0 : 5);
        }
        p += w;
        n -= static_cast<size_t>(w);
    }
}

void flush(Buffer& buf) {
    writeAll(kRecordFd, buf.data(), buf.size());
    buf.clear();
}

void putU32(Buffer& buf, uint32_t v) {
    buf.append(&v, 4);
}

// Blocks until the agent closes the task pipe (the SDK's shutdown signal), then exits 0.
[[noreturn]] void idleUntilEof() {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(kTaskFd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR)) ::_exit(0);
    }
}

[[noreturn]] void sleepForever() {
    for (;;) ::pause();
}

// A "Name:\tvalue" line of /proc/self/status.
std::string statusLine(const std::string& name) {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return "?";
    char line[512];
    std::string out = "?";
    while (std::fgets(line, sizeof(line), f)) {
        std::string l(line);
        if (l.rfind(name + ":", 0) == 0) {
            out = l.substr(name.size() + 1);
            while (!out.empty() && (out.front() == '\t' || out.front() == ' ')) out.erase(0, 1);
            while (!out.empty() && out.back() == '\n') out.pop_back();
        }
    }
    std::fclose(f);
    return out;
}

std::string readLink(const std::string& path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf) - 1);
    return n < 0 ? std::string("?") : std::string(buf, static_cast<size_t>(n));
}

void emitSeq(Buffer& buf, int32_t data_type, long seq, size_t pad) {
    RecordEncoder enc(buf);
    enc.begin(data_type, nowMs()).field("seq", seq);
    if (pad) enc.field("pad", std::string(pad, 'x'));
    enc.end();
}

[[noreturn]] void modeEnv(Buffer& buf) {
    std::string env;
    for (char** e = environ; *e; ++e) env += std::string(*e) + "\n";
    char cwd[4096] = {0};
    if (!::getcwd(cwd, sizeof(cwd))) cwd[0] = 0;
    // List fds through a directory fd opened first, so it can be left out.
    std::string fds;
    DIR* d = ::opendir("/proc/self/fd");
    int own = d ? ::dirfd(d) : -1;
    while (d) {
        dirent* ent = ::readdir(d);
        if (!ent) break;
        if (ent->d_name[0] == '.' || std::atoi(ent->d_name) == own) continue;
        fds += std::string(ent->d_name) + ",";
    }
    if (d) ::closedir(d);
    std::fprintf(stderr, "hello stderr from %d\n", ::getpid());
    std::fflush(stderr);
    RecordEncoder enc(buf);
    enc.begin(901, nowMs())
        .field("env", env)
        .field("cwd", cwd)
        .field("pid", ::getpid())
        .field("pgid", ::getpgid(0))
        .field("fds", fds)
        .field("fd0", readLink("/proc/self/fd/0"))
        .field("fd1", readLink("/proc/self/fd/1"))
        .field("fd2", readLink("/proc/self/fd/2"))
        .field("argv0", std::string(program_invocation_name))
        .field("sigign", statusLine("SigIgn"))
        .field("sigblk", statusLine("SigBlk"));
    enc.end();
    flush(buf);
    idleUntilEof();
}

// Good, malformed, oversized-but-skippable and non-UTF-8 frames, in an order the test knows.
[[noreturn]] void modeBadFrames(Buffer& buf) {
    emitSeq(buf, 7000, 0, 0);
    // A frame whose Record is not protobuf (field 1 as a truncated varint).
    putU32(buf, 3);
    buf.append("\x08\xff\xff", 3);
    // A Record whose Payload is not a map<string,string> (entry with a varint field 1).
    const char bad_payload[] = {0x08, 0x01, 0x1a, 0x04, 0x0a, 0x02, 0x08, 0x01};
    putU32(buf, sizeof(bad_payload));
    buf.append(bad_payload, sizeof(bad_payload));
    emitSeq(buf, 7000, 1, 0);
    // An oversized frame that can be skipped: declared length = its real length.
    size_t big = static_cast<size_t>(argInt("oversize", 8192));
    putU32(buf, static_cast<uint32_t>(big));
    buf.append(std::string(big, 'z'));
    emitSeq(buf, 7000, 2, 0);
    // A valid Record whose value is not UTF-8: forwarded and counted.
    {
        Buffer payload;
        vigil::wire::encodePayload(payload,
                                   {{"bytes", std::string("\xff\xfe ok", 5)}, {"seq", "3"}});
        Buffer rec;
        rec.append("\x08\xd8\x36", 3);  // data_type 7000
        rec.push(0x1a);
        uint8_t len = static_cast<uint8_t>(payload.size());
        rec.push(static_cast<char>(len));
        rec.append(payload.view());
        vigil::wire::appendFrame(buf, rec.view());
    }
    emitSeq(buf, 7000, 4, 0);
    flush(buf);
    idleUntilEof();
}

}  // namespace

int main() {
    const char* detail = std::getenv("DETAIL");
    std::string d = detail ? detail : "";
    size_t pos = 0;
    while (pos < d.size()) {
        size_t end = d.find(' ', pos);
        if (end == std::string::npos) end = d.size();
        std::string tok = d.substr(pos, end - pos);
        size_t eq = tok.find('=');
        if (eq != std::string::npos) g_args[tok.substr(0, eq)] = tok.substr(eq + 1);
        pos = end + 1;
    }
    const std::string mode = arg("mode", "idle");
    Buffer buf;
    {
        RecordEncoder enc(buf);
        enc.begin(900, nowMs()).field("pid", ::getpid()).field("detail", d).field("ms", nowMs());
        enc.end();
        flush(buf);
    }

    if (mode == "idle") idleUntilEof();
    if (mode == "env") modeEnv(buf);
    if (mode == "bad_frames") modeBadFrames(buf);

    if (mode == "emit" || mode == "flood") {
        // count records of data_type 7000 with a `pad` field of `pad` bytes, flushed in batches.
        long count = argInt("count", 10);
        size_t pad = static_cast<size_t>(argInt("pad", 0));
        for (long i = 0; i < count; ++i) {
            emitSeq(buf, 7000, i, pad);
            if (buf.size() >= 64 * 1024) flush(buf);
        }
        flush(buf);
        if (arg("then") == "exit") return 0;
        idleUntilEof();
    }
    if (mode == "tick") {
        // One record every `interval` ms until the agent closes the task pipe.
        long interval = argInt("interval", 10);
        std::thread([] { idleUntilEof(); }).detach();
        for (long i = 0;; ++i) {
            emitSeq(buf, 7000, i, 0);
            flush(buf);
            std::this_thread::sleep_for(std::chrono::milliseconds(interval));
        }
    }
    if (mode == "crash_after") {
        long n = argInt("n", 3);
        for (long i = 0; i < n; ++i) emitSeq(buf, 7000, i, 0);
        flush(buf);
        if (arg("how") == "exit") ::_exit(3);
        ::abort();
    }
    if (mode == "huge_prefix") {
        // One good record, then a 1 GiB length prefix; the host must restart us.
        emitSeq(buf, 7000, 0, 0);
        putU32(buf, 1u << 30);
        buf.append(std::string(1000, 'g'));
        flush(buf);
        // Keep writing as a confused plugin would, until the host kills us.
        for (;;) {
            buf.append(std::string(4096, 'g'));
            flush(buf);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    if (mode == "random_bytes") {
        unsigned seed = static_cast<unsigned>(::getpid());
        for (;;) {
            for (int i = 0; i < 4096; ++i) buf.push(static_cast<char>(rand_r(&seed)));
            flush(buf);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    if (mode == "echo_tasks") {
        // Answers every task with a 5100 record carrying its fields; exits on EOF.
        vigil::wire::FrameDecoder dec(1 << 20);
        for (;;) {
            size_t cap;
            char* area = dec.readArea(&cap);
            ssize_t n = ::read(kTaskFd, area, cap);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return 0;
            dec.commit(static_cast<size_t>(n));
            std::string_view frame;
            while (dec.next(frame) == vigil::wire::FrameDecoder::Next::kFrame) {
                vigil::wire::TaskView task;
                if (!vigil::wire::parseTask(frame, task)) continue;
                RecordEncoder enc(buf);
                enc.begin(5100, nowMs())
                    .field("task_data_type", task.data_type)
                    .field("object_name", task.object_name)
                    .field("data", task.data)
                    .field("token", task.token);
                enc.end();
                flush(buf);
            }
        }
    }
    if (mode == "ignore_sigterm" || mode == "spawn_child") {
        // ignore_sigterm: the plugin and its child ignore SIGTERM and EOF (only SIGKILL ends
        // them). spawn_child: the plugin exits on SIGTERM, its child ignores it.
        if (mode == "ignore_sigterm") ::signal(SIGTERM, SIG_IGN);
        pid_t child = ::fork();
        if (child == 0) {
            ::signal(SIGTERM, SIG_IGN);
            sleepForever();
        }
        RecordEncoder enc(buf);
        enc.begin(902, nowMs()).field("pid", ::getpid()).field("child", child);
        enc.end();
        flush(buf);
        sleepForever();
    }
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
}
