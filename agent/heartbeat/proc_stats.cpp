// /proc readers for process resource use.
#include "agent/heartbeat/proc_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace vigil::agent {
namespace {

std::string readSmall(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

uint32_t countDir(const std::string& path) {
    DIR* d = ::opendir(path.c_str());
    if (!d) return 0;
    uint32_t n = 0;
    while (struct dirent* e = ::readdir(d)) {
        if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    return n;
}

}  // namespace

int64_t bootTime() {
    static int64_t cached = [] {
        std::ifstream in("/proc/stat");
        std::string line;
        while (std::getline(in, line)) {
            if (line.rfind("btime ", 0) == 0) return static_cast<int64_t>(std::stoll(line.substr(6)));
        }
        return int64_t{0};
    }();
    return cached;
}

std::optional<ProcessSample> readProcess(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    std::string stat = readSmall(base + "/stat");
    if (stat.empty()) return std::nullopt;
    // comm may contain spaces and parentheses: fields start after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream in(stat.substr(close + 2));
    std::string f[50];
    int n = 0;
    while (n < 50 && in >> f[n]) ++n;
    if (n < 22) return std::nullopt;
    // After ')': f[0]=state(3) ... utime(14)=f[11], stime(15)=f[12], num_threads(20)=f[17],
    // starttime(22)=f[19], rss(24)=f[21].
    static const long kTicks = ::sysconf(_SC_CLK_TCK);
    static const long kPage = ::sysconf(_SC_PAGESIZE);
    ProcessSample s;
    s.at = std::chrono::steady_clock::now();
    s.cpu_ticks = std::stoull(f[11]) + std::stoull(f[12]);
    s.nthreads = static_cast<uint32_t>(std::stoul(f[17]));
    s.start_time = bootTime() + static_cast<int64_t>(std::stoull(f[19]) / static_cast<uint64_t>(kTicks));
    s.rss_bytes = std::stoull(f[21]) * static_cast<uint64_t>(kPage);
    s.nfd = countDir(base + "/fd");
    std::ifstream io(base + "/io");
    std::string line;
    while (std::getline(io, line)) {
        if (line.rfind("read_bytes: ", 0) == 0) s.read_bytes = std::stoull(line.substr(12));
        else if (line.rfind("write_bytes: ", 0) == 0) s.write_bytes = std::stoull(line.substr(13));
    }
    return s;
}

ProcessRates RateTracker::update(const ProcessSample& sample) {
    ProcessRates r;
    if (last_) {
        double secs = std::chrono::duration<double>(sample.at - last_->at).count();
        if (secs > 0) {
            static const double kTicks = static_cast<double>(::sysconf(_SC_CLK_TCK));
            r.cpu_cores = static_cast<double>(sample.cpu_ticks - last_->cpu_ticks) / kTicks / secs;
            if (sample.read_bytes >= last_->read_bytes)
                r.read_bytes_per_s = static_cast<double>(sample.read_bytes - last_->read_bytes) / secs;
            if (sample.write_bytes >= last_->write_bytes)
                r.write_bytes_per_s = static_cast<double>(sample.write_bytes - last_->write_bytes) / secs;
        }
    }
    last_ = sample;
    return r;
}

double CounterRate::update(uint64_t value, std::chrono::steady_clock::time_point now) {
    double rate = 0;
    if (primed_) {
        double secs = std::chrono::duration<double>(now - last_at_).count();
        if (secs > 0 && value >= last_value_) rate = static_cast<double>(value - last_value_) / secs;
    }
    primed_ = true;
    last_value_ = value;
    last_at_ = now;
    return rate;
}

}  // namespace vigil::agent
