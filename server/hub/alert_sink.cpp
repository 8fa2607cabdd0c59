// Alert sinks: JSON lines file and bus.
#include "server/hub/alert_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libs/common/fs.h"

namespace vigil::hub {

namespace {

std::string errnoText(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

class JsonLinesSink final : public AlertSink {
public:
    JsonLinesSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
    ~JsonLinesSink() override { ::close(fd_); }
    const char* name() const override { return "jsonl"; }

    Status write(const std::vector<Alert>& alerts) override {
        if (alerts.empty()) return {};
        std::string buf;
        if (needs_newline_) buf.push_back('\n');
        for (const auto& a : alerts) {
            buf.append(a.json);
            buf.push_back('\n');
        }
        size_t done = 0;
        while (done < buf.size()) {
            ssize_t n = ::write(fd_, buf.data() + done, buf.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return Error{errnoText("writing " + path_)};
            }
            done += static_cast<size_t>(n);
        }
        needs_newline_ = false;
        if (::fdatasync(fd_) != 0) return Error{errnoText("fdatasync " + path_)};
        return {};
    }

    // A file that does not end with a newline (torn by a crash) gets one before the next line.
    void checkTail() {
        struct stat st {};
        if (::fstat(fd_, &st) != 0 || st.st_size == 0) return;
        char c = 0;
        if (::pread(fd_, &c, 1, st.st_size - 1) == 1 && c != '\n') needs_newline_ = true;
    }

private:
    std::string path_;
    int fd_;
    bool needs_newline_ = false;
};

class BusSink final : public AlertSink {
public:
    explicit BusSink(std::unique_ptr<bus::Bus> b) : bus_(std::move(b)) {}
    ~BusSink() override { bus_->producer().flush(); }
    const char* name() const override { return "bus"; }

    Status write(const std::vector<Alert>& alerts) override {
        if (alerts.empty()) return {};
        std::vector<bus::Message> msgs;
        msgs.reserve(alerts.size());
        for (const auto& a : alerts) msgs.push_back({a.agent_id, kAlertDataType, a.json});
        return bus_->producer().append(msgs);
    }

private:
    std::unique_ptr<bus::Bus> bus_;
};

}  // namespace

Result<std::unique_ptr<AlertSink>> openJsonLinesSink(const std::string& path) {
    const std::string dir = fs::dirName(path);
    if (!dir.empty() && !fs::exists(dir)) {
        auto st = fs::makeDirs(dir, 0750);
        if (!st.ok()) return st.error();
    }
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return Error{errnoText("opening " + path)};
    auto sink = std::make_unique<JsonLinesSink>(path, fd);
    sink->checkTail();
    return std::unique_ptr<AlertSink>(std::move(sink));
}

Result<std::unique_ptr<AlertSink>> openBusSink(const bus::BusOptions& options,
                                               metrics::Registry& metrics) {
    bus::BusOptions o = options;
    o.writer = true;
    auto b = bus::Bus::open(o, metrics);
    if (!b.ok()) return Error{"alerts bus: " + b.message()};
    return std::unique_ptr<AlertSink>(std::make_unique<BusSink>(std::move(*b)));
}

}  // namespace vigil::hub
