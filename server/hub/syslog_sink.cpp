// Syslog output: RFC 5424 messages over tcp (RFC 6587 octet counting), udp or a unix datagram
// socket (/dev/log). Semantics in output_sinks.h.
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

#include "libs/common/log.h"
#include "server/hub/output_sinks.h"

namespace vigil::hub {
namespace {

using Clock = std::chrono::steady_clock;

// The largest UDP payload over IPv4; unix datagrams are cut at the same size.
constexpr size_t kMaxDatagram = 65507;
// IANA private enterprise number of the structured data element (RFC 5612 documentation).
constexpr std::string_view kSdId = "vigil@32473";

int syslogSeverity(Severity s) {
    switch (s) {
        case Severity::kCritical:
            return 2;
        case Severity::kHigh:
            return 3;
        case Severity::kMedium:
            return 4;
        case Severity::kLow:
            return 5;
        case Severity::kInfo:
            return 6;
    }
    return 4;
}

// A header field: the printable ASCII (33-126) characters of `text`, at most `max` of them;
// "-" (NILVALUE) when none is left.
std::string headerField(std::string_view text, size_t max) {
    std::string out;
    for (char c : text) {
        if (out.size() == max) break;
        if (c > 32 && c < 127) out.push_back(c);
    }
    return out.empty() ? std::string("-") : out;
}

void appendParam(std::string& out, std::string_view name, std::string_view value) {
    out.append(" ").append(name).append("=\"");
    for (char c : value) {
        if (c == '"' || c == '\\' || c == ']') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

// RFC 3339 in UTC with milliseconds: 2025-11-27T14:00:00.123Z.
std::string timestampNow() {
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    const time_t secs = static_cast<time_t>(ms.count() / 1000);
    tm t{};
    ::gmtime_r(&secs, &t);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                  t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return buf;
}

std::string errnoText(const char* what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

// Waits for `events` on fd until the deadline: 1 ready, 0 timed out, -1 poll failed.
int waitFor(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return 0;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n > 0) return 1;
    }
}

class SyslogSink final : public AlertSink {
public:
    SyslogSink(SyslogOutput output, OutputAddress address, metrics::Registry& metrics)
        : output_(std::move(output)),
          address_(std::move(address)),
          name_("syslog " + output_.address),
          metrics_(metrics, "syslog", output_.address),
          stream_(address_.scheme == "tcp") {
        std::string host = output_.hostname;
        if (host.empty()) {
            char buf[256] = {};
            if (::gethostname(buf, sizeof(buf) - 1) == 0) host = buf;
        }
        // The fixed part of every header: HOSTNAME APP-NAME PROCID.
        fixed_header_ = headerField(host, 255) + " " + headerField(output_.app_name, 48) + " " +
                        std::to_string(::getpid());
    }
    ~SyslogSink() override { disconnect(); }
    const char* name() const override { return name_.c_str(); }

    Status write(const std::vector<Alert>& alerts) override {
        if (alerts.empty()) return {};
        const std::string ts = timestampNow();
        Status st = stream_ ? writeStream(alerts, ts) : writeDatagrams(alerts, ts);
        if (!st.ok()) {
            disconnect();
            metrics_.errors.inc();
            return Error{name_ + ": " + st.message()};
        }
        metrics_.messages.inc(alerts.size());
        return {};
    }

private:
    std::string format(const Alert& a, const std::string& timestamp) const {
        const int pri = output_.facility * 8 + syslogSeverity(a.severity);
        std::string m;
        m.reserve(a.json.size() + a.rule_id.size() + a.agent_id.size() + 160);
        m.append("<").append(std::to_string(pri)).append(">1 ").append(timestamp);
        m.append(" ").append(fixed_header_).append(" ").append(headerField(a.rule_id, 32));
        m.append(" [").append(kSdId);
        appendParam(m, "rule_id", a.rule_id);
        appendParam(m, "severity", severityName(a.severity));
        appendParam(m, "agent_id", a.agent_id);
        m.append("] ");
        if (output_.bom) m.append("\xEF\xBB\xBF");
        m.append(a.json);
        return m;
    }

    // RFC 6587 octet counting: "LEN SP MSG" back to back.
    Status writeStream(const std::vector<Alert>& alerts, const std::string& ts) {
        if (fd_ >= 0 && peerClosed()) disconnect();
        if (fd_ < 0) VIGIL_TRY(connect());
        std::string buf;
        for (const auto& a : alerts) {
            const std::string m = format(a, ts);
            buf.append(std::to_string(m.size())).append(" ").append(m);
        }
        VIGIL_TRY(sendAll(buf));
        return waitAcknowledged();
    }

    Status writeDatagrams(const std::vector<Alert>& alerts, const std::string& ts) {
        for (const auto& a : alerts) {
            std::string m = format(a, ts);
            if (m.size() > kMaxDatagram) {
                m.resize(kMaxDatagram);
                // Not in the middle of a UTF-8 sequence: drop continuation bytes and their lead.
                while (!m.empty() && (static_cast<unsigned char>(m.back()) & 0xC0) == 0x80) {
                    m.pop_back();
                }
                if (!m.empty() && static_cast<unsigned char>(m.back()) >= 0xC0) m.pop_back();
                metrics_.truncated.inc();
                VIGIL_LOG_RATE_LIMITED(log::get("hub"), spdlog::level::warn,
                                       "{}: alert of rule {} cut to {} bytes", name_, a.rule_id,
                                       kMaxDatagram);
            }
            VIGIL_TRY(sendDatagram(m));
        }
        return {};
    }

    // A unix socket whose daemon restarted (ECONNREFUSED, ENOENT) is opened again once.
    Status sendDatagram(const std::string& m) {
        for (int attempt = 0;; ++attempt) {
            if (fd_ < 0) VIGIL_TRY(connect());
            const auto deadline = Clock::now() + output_.timeout;
            ssize_t n;
            while ((n = ::send(fd_, m.data(), m.size(), MSG_NOSIGNAL)) < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) break;
                if (waitFor(fd_, POLLOUT, deadline) != 1) {
                    return makeError("socket not writable within {} ms", output_.timeout.count());
                }
            }
            if (n >= 0) return {};
            const int err = errno;
            // udp: the ICMP answer to an earlier datagram (nobody listens): best effort, the
            // pending error is cleared by this call, so send once more.
            if (err == ECONNREFUSED && address_.scheme == "udp") {
                if (attempt < 2) continue;
                return {};
            }
            if (attempt == 0 && address_.scheme == "unix" &&
                (err == ECONNREFUSED || err == ENOENT || err == ENOTCONN)) {
                disconnect();
                continue;
            }
            return Error{errnoText("send", err)};
        }
    }

    Status sendAll(const std::string& buf) {
        size_t done = 0;
        auto deadline = Clock::now() + output_.timeout;
        while (done < buf.size()) {
            const ssize_t n = ::send(fd_, buf.data() + done, buf.size() - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += static_cast<size_t>(n);
                deadline = Clock::now() + output_.timeout;  // the timeout is per lack of progress
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                return Error{errnoText("send", errno)};
            if (waitFor(fd_, POLLOUT, deadline) != 1) {
                return makeError("receiver took no data for {} ms", output_.timeout.count());
            }
        }
        return {};
    }

    // Ok once the peer's TCP stack acknowledged every byte sent (the send queue is empty).
    Status waitAcknowledged() {
        int left = -1;
        auto deadline = Clock::now() + output_.timeout;
        for (auto pause = std::chrono::microseconds(50);;
             pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
            int queued = 0;
            if (::ioctl(fd_, SIOCOUTQ, &queued) != 0) return Error{errnoText("SIOCOUTQ", errno)};
            if (queued == 0) return {};
            int err = 0;
            socklen_t len = sizeof(err);
            if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
                return Error{errnoText("connection", err)};
            }
            if (queued != left) {
                left = queued;
                deadline = Clock::now() + output_.timeout;
            } else if (Clock::now() >= deadline) {
                return makeError("{} bytes not acknowledged by the receiver within {} ms", queued,
                                 output_.timeout.count());
            }
            std::this_thread::sleep_for(pause);
        }
    }

    // The receiver closed (or reset) the connection: syslog receivers never send data.
    bool peerClosed() {
        for (int i = 0; i < 16; ++i) {
            pollfd p{fd_, POLLIN | POLLRDHUP, 0};
            if (::poll(&p, 1, 0) <= 0) return false;
            if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return true;
            char buf[512];
            const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0) return true;
            if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
        }
        return false;
    }

    Status connect() {
        if (address_.scheme == "unix") {
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            std::memcpy(sa.sun_path, address_.target.data(), address_.target.size());
            const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) return Error{errnoText("socket", errno)};
            if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
                const int err = errno;
                ::close(fd);
                return Error{errnoText(("connect " + address_.target).c_str(), err)};
            }
            fd_ = fd;
            return {};
        }
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = stream_ ? SOCK_STREAM : SOCK_DGRAM;
        addrinfo* res = nullptr;
        const int gai = ::getaddrinfo(address_.host.c_str(), std::to_string(address_.port).c_str(),
                                      &hints, &res);
        if (gai != 0) return makeError("resolving {}: {}", address_.host, ::gai_strerror(gai));
        std::string failure = "no address";
        const auto deadline = Clock::now() + output_.timeout;
        for (addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
            const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                    ai->ai_protocol);
            if (fd < 0) {
                failure = errnoText("socket", errno);
                continue;
            }
            int err = ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
            if (err == EINPROGRESS) {
                const int w = waitFor(fd, POLLOUT, deadline);
                socklen_t len = sizeof(err);
                if (w == 1) {
                    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
                } else {
                    err = w == 0 ? ETIMEDOUT : errno;
                }
            }
            if (err != 0) {
                failure = errnoText("connect", err);
                ::close(fd);
                continue;
            }
            fd_ = fd;
        }
        ::freeaddrinfo(res);
        if (fd_ < 0) return Error{failure};
        return {};
    }

    void disconnect() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    SyslogOutput output_;
    OutputAddress address_;
    std::string name_;
    OutputMetrics metrics_;
    bool stream_;
    std::string fixed_header_;
    int fd_ = -1;
};

}  // namespace

Result<std::unique_ptr<AlertSink>> openSyslogSink(const SyslogOutput& output,
                                                  metrics::Registry& metrics) {
    auto address = parseSyslogAddress(output.address);
    if (!address.ok()) return Error{"syslog output: " + address.message()};
    if (output.facility < 0 || output.facility > 23) {
        return makeError("syslog output {}: facility {} is not 0-23", output.address,
                         output.facility);
    }
    return std::unique_ptr<AlertSink>(
        std::make_unique<SyslogSink>(output, std::move(*address), metrics));
}

}  // namespace vigil::hub
