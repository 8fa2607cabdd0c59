// A test plugin for the harness tests: reports how it was started (environment, descriptors,
// cwd, process group, signal state) and misbehaves on request. DETAIL is key=value:
//   mode=report (default)  9900 record describing the process, then serve 9101 echo tasks
//   mode=burst count=N     N records 9901 {seq} kept buffered (flush after 10 min), "burst ready"
//                          on stderr; they reach the agent only by the SIGTERM flush
//   mode=garbage           a malformed frame, an oversized frame (100000 bytes), then one
//                          valid 9902 record; waits for EOF on fd 3
//   mode=ignore_term       ignores SIGTERM, "ignoring SIGTERM" on stderr, sleeps forever
//   mode=exit code=N       exits with code N at once
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "libs/wire/buffer.h"
#include "libs/wire/record.h"
#include "vigil/sdk/client.h"
#include "vigil/sdk/plugin_config.h"

extern char** environ;

namespace {

using vigil::sdk::Client;

std::string readLink(const std::string& path) {
    char buf[4096];
    const ssize_t n = ::readlink(path.c_str(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::string openFds() {
    std::string out;
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return "?";
    std::vector<int> fds;
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd != ::dirfd(dir)) fds.push_back(fd);
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    for (int fd : fds) out += (out.empty() ? "" : ",") + std::to_string(fd);
    return out;
}

std::string statusLine(const std::string& key) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key + ":", 0) == 0) {
            const size_t v = line.find_first_not_of(" \t", key.size() + 1);
            return v == std::string::npos ? "" : line.substr(v);
        }
    }
    return "";
}

void say(const char* line) {
    [[maybe_unused]] ssize_t n = ::write(2, line, std::strlen(line));
}

// How the process was started, captured first thing in main(), before the SDK opens its own
// descriptors or changes signal dispositions.
struct StartState {
    std::string env;
    int env_count = 0;
    std::string cwd;
    std::string fds;
    std::string sig_blocked;
    std::string sig_ignored;
};

StartState captureStartState() {
    StartState st;
    for (char** e = environ; *e; ++e) {
        st.env += (st.env.empty() ? "" : "\n") + std::string(*e);
        ++st.env_count;
    }
    char cwd[4096] = {0};
    if (::getcwd(cwd, sizeof(cwd))) st.cwd = cwd;
    st.fds = openFds();
    st.sig_blocked = statusLine("SigBlk");
    st.sig_ignored = statusLine("SigIgn");
    return st;
}

int report(Client& client, const StartState& st) {
    client.record(9900)
        .field("env", st.env)
        .field("env_count", st.env_count)
        .field("cwd", st.cwd)
        .field("fds", st.fds)
        .field("pid", ::getpid())
        .field("pgid", ::getpgrp())
        .field("stdin", readLink("/proc/self/fd/0"))
        .field("stdout", readLink("/proc/self/fd/1"))
        .field("stderr", readLink("/proc/self/fd/2"))
        .field("sig_blocked", st.sig_blocked)
        .field("sig_ignored", st.sig_ignored)
        .send();
    client.flush();
    client.log(vigil::sdk::LogLevel::kInfo, "probe reported");
    while (client.running()) {
        auto task = client.receiveTask();
        if (!task.ok()) {
            if (!client.running()) break;
            client.logError(task.message());
            continue;
        }
        client.sendTaskResult(task->token, task->data_type == 9101, task->data);
    }
    return 0;
}

int burst(Client& client, int64_t count) {
    for (int64_t i = 1; i <= count; ++i) client.record(9901).field("seq", i).send();
    say("burst ready\n");
    while (!client.waitForShutdown(std::chrono::seconds(60))) {
    }
    return 0;
}

int garbage() {
    vigil::wire::Buffer out;
    const uint32_t bad_len = 3;
    out.append(&bad_len, 4);
    out.append("\xff\xff\xff", 3);  // not a valid protobuf message
    const uint32_t big_len = 100000;
    out.append(&big_len, 4);
    out.append(std::string(big_len, 'x'));
    vigil::wire::RecordEncoder enc(out);
    enc.begin(9902, Client::now()).field("after", "garbage").end();
    size_t off = 0;
    while (off < out.size()) {
        const ssize_t n = ::write(4, out.data() + off, out.size() - off);
        if (n <= 0) return 1;
        off += static_cast<size_t>(n);
    }
    char buf[256];
    while (::read(3, buf, sizeof(buf)) > 0) {
    }
    return 0;
}

}  // namespace

int main() {
    const StartState start_state = captureStartState();
    auto config = vigil::sdk::PluginConfig::fromEnvironment();
    if (!config.ok()) {
        std::fprintf(stderr, "probe: %s\n", config.message().c_str());
        return 2;
    }
    const std::string mode = config->get("mode", "report");
    if (mode == "exit") return static_cast<int>(config->getInt("code", 0).valueOr(0));
    if (mode == "garbage") return garbage();
    if (mode == "ignore_term") {
        ::signal(SIGTERM, SIG_IGN);
        say("ignoring SIGTERM\n");
        for (;;) ::pause();
    }
    if (!vigil::sdk::installSignalHandlers().ok()) return 1;
    vigil::sdk::ClientOptions options;
    options.log_source = "probe";
    if (mode == "burst") options.flush_interval = std::chrono::minutes(10);
    Client client(options);
    if (mode == "burst") return burst(client, config->getInt("count", 1000).valueOr(1000));
    return report(client, start_state);
}
