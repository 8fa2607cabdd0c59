// Client: double-buffered record writer with a flusher thread, the task reader, and the log and
// task-result helpers. See client.h for the threading and back-pressure contract.
#include "vigil/sdk/client.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <utility>

#include "libs/wire/batch.h"

namespace vigil::sdk {
namespace {

// Without installSignalHandlers(), the flusher re-checks for a late installation this often.
constexpr int kIdlePollMs = 1000;
// While the record pipe is full, shutdown()'s deadline is checked this often.
constexpr int kWritePollSliceMs = 100;

std::string errnoText(std::string_view what, int err) {
    std::string s(what);
    s += ": ";
    s += std::strerror(err);
    return s;
}

int msUntil(std::chrono::steady_clock::time_point t) {
    auto d = std::chrono::ceil<std::chrono::milliseconds>(t - std::chrono::steady_clock::now());
    if (d.count() < 0) return 0;
    if (d.count() > kIdlePollMs) return kIdlePollMs;
    return static_cast<int>(d.count());
}

void signalEventFd(int fd) {
    if (fd < 0) return;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}

void drainEventFd(int fd) {
    uint64_t v;
    [[maybe_unused]] ssize_t n = ::read(fd, &v, sizeof(v));
}

ClientOptions withFds(int task_fd, int record_fd) {
    ClientOptions o;
    o.task_fd = task_fd;
    o.record_fd = record_fd;
    return o;
}

}  // namespace

const char* logLevelName(LogLevel level) {
    switch (level) {
        case LogLevel::kDebug:
            return "debug";
        case LogLevel::kInfo:
            return "info";
        case LogLevel::kWarn:
            return "warn";
        case LogLevel::kError:
            return "error";
    }
    return "unknown";
}

// ---------------------------------------------------------------------------------------------
// RecordWriter

RecordWriter::RecordWriter(Client* client, std::unique_lock<std::mutex> lock, bool active,
                           size_t start)
    : client_(client),
      lock_(std::move(lock)),
      encoder_(&client->encoder_),
      active_(active),
      start_(start) {}

RecordWriter::RecordWriter(RecordWriter&& other) noexcept
    : client_(other.client_),
      lock_(std::move(other.lock_)),
      encoder_(other.encoder_),
      active_(std::exchange(other.active_, false)),
      start_(other.start_) {}

bool RecordWriter::send() {
    if (!lock_.owns_lock()) return false;
    bool committed = false;
    bool wake = false;
    if (active_) {
        committed = client_->commitLocked(start_, &wake);
    } else {
        ++client_->stats_.records_dropped;
    }
    active_ = false;
    lock_.unlock();
    if (wake) client_->wake();
    return committed;
}

void RecordWriter::cancel() {
    if (!lock_.owns_lock()) return;
    if (active_) encoder_->abort();
    active_ = false;
    lock_.unlock();
}

// ---------------------------------------------------------------------------------------------
// Client: construction and shutdown

Client::Client() : Client(ClientOptions{}) {}

Client::Client(int task_fd, int record_fd) : Client(withFds(task_fd, record_fd)) {}

Client::Client(ClientOptions options)
    : options_(std::move(options)),
      task_fd_(options_.task_fd),
      record_fd_(options_.record_fd),
      task_decoder_(options_.max_task_bytes, 4096) {
    init();
}

void Client::init() {
    // Check the descriptors before opening anything: a descriptor that is not open would
    // otherwise be taken by one of our own eventfds and look valid.
    if (task_fd_ >= 0 && ::fcntl(task_fd_, F_GETFD) < 0) {
        // Run by hand without fd 3: records still work, tasks do not.
        writeStderr(LogLevel::kWarn, "vigil sdk: task descriptor " + std::to_string(task_fd_) +
                                         " is not open; no tasks will be received");
        task_fd_ = -1;
    }
    const int flags = record_fd_ >= 0 ? ::fcntl(record_fd_, F_GETFL) : -1;
    // Non-blocking so that shutdown() can give up on an agent that stopped reading.
    if (flags < 0 || ::fcntl(record_fd_, F_SETFL, flags | O_NONBLOCK) < 0) {
        const std::string why = "record descriptor " + std::to_string(record_fd_) +
                                " is not usable (not started by an agent?)";
        writeStderr(LogLevel::kError, "vigil sdk: " + why);
        record_fd_ = -1;
        closed_ = true;
        markStopped(why);
        return;
    }
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0 || stop_fd_ < 0) {
        const std::string why = errnoText("eventfd", errno);
        writeStderr(LogLevel::kError, "vigil sdk: " + why);
        closed_ = true;
        markStopped(why);
        return;
    }
    active_.reserve(options_.buffer_bytes);
    flusher_ = std::thread([this] { flusherLoop(); });
}

Client::~Client() {
    shutdown();
    if (task_fd_ >= 0) ::close(task_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (stop_fd_ >= 0) ::close(stop_fd_);
}

void Client::shutdown() {
    std::call_once(shutdown_once_, [this] {
        markStopped("shutdown");
        {
            std::lock_guard<std::mutex> lock(mu_);
            closing_ = true;
            shutdown_deadline_ = std::chrono::steady_clock::now() + options_.shutdown_timeout;
        }
        wake();
        space_cv_.notify_all();
        if (flusher_.joinable()) flusher_.join();
        {
            std::lock_guard<std::mutex> lock(mu_);
            closed_ = true;
            settled_bytes_ = committed_bytes_;
        }
        flush_cv_.notify_all();
        if (record_fd_ >= 0) {
            ::close(record_fd_);
            record_fd_ = -1;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Client: stop state

void Client::markStopped(std::string_view reason) {
    {
        std::lock_guard<std::mutex> lock(state_mu_);
        if (!running_) return;
        running_ = false;
        stop_reason_ = reason;
    }
    signalEventFd(stop_fd_);  // sticky: never drained, wakes every receiveTask()
    state_cv_.notify_all();
}

void Client::requestStop(std::string_view reason) {
    markStopped(reason);
}

void Client::noticeSignal() {
    if (stopSignalReceived()) {
        markStopped(stopSignalNumber() == SIGINT ? "received SIGINT" : "received SIGTERM");
    }
}

bool Client::running() const {
    return running_.load() && !stopSignalReceived();
}

bool Client::waitForShutdown(std::chrono::milliseconds timeout) {
    noticeSignal();
    std::unique_lock<std::mutex> lock(state_mu_);
    // The flusher thread turns a stop signal into markStopped(), which notifies state_cv_.
    return state_cv_.wait_for(lock, timeout,
                              [this] { return !running_.load() || stopSignalReceived(); });
}

std::string Client::stopReason() const {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (running_.load() && stopSignalReceived()) {
        return stopSignalNumber() == SIGINT ? "received SIGINT" : "received SIGTERM";
    }
    return stop_reason_;
}

void Client::wake() {
    signalEventFd(wake_fd_);
}

// ---------------------------------------------------------------------------------------------
// Client: records

RecordWriter Client::record(int32_t data_type, int64_t timestamp) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!closed_ && !closing_ && active_.size() >= options_.buffer_bytes) {
        // Both buffers are full: wait for the flusher (back-pressure on the plugin).
        ++stats_.backpressure_waits;
        wake();
        space_cv_.wait(
            lock, [this] { return closed_ || closing_ || active_.size() < options_.buffer_bytes; });
    }
    const bool active = !closed_ && !closing_;
    const size_t start = active_.size();
    if (active) encoder_.begin(data_type, timestamp);
    return RecordWriter(this, std::move(lock), active, start);
}

bool Client::commitLocked(size_t start, bool* wake) {
    const size_t frame = encoder_.end();
    if (frame - 4 > options_.max_record_bytes) {
        active_.resize(start);
        ++stats_.records_dropped;
        return false;
    }
    ++active_records_;
    ++stats_.records;
    committed_bytes_ += frame;
    // Wake the flusher to start the flush timer, or because the buffer just filled up.
    *wake =
        start == 0 || (start < options_.buffer_bytes && active_.size() >= options_.buffer_bytes);
    return true;
}

bool Client::sendRecord(int32_t data_type, int64_t timestamp,
                        const std::map<std::string, std::string>& fields) {
    RecordWriter w = record(data_type, timestamp);
    for (const auto& [k, v] : fields) w.field(k, v);
    return w.send();
}

bool Client::sendTaskResult(std::string_view token, bool ok, std::string_view msg) {
    return record(kDataTypeTaskResult)
        .field("token", token)
        .field("status", ok ? "succeed" : "failed")
        .field("msg", msg)
        .send();
}

void Client::log(LogLevel level, std::string_view msg) {
    writeStderr(level, msg);
    if (level < options_.min_record_level) return;
    const int64_t ts = now();
    RecordWriter w = record(kDataTypeLog, ts);
    w.field("level", logLevelName(level)).field("msg", msg);
    if (!options_.log_source.empty()) w.field("source", options_.log_source);
    w.field("timestamp", ts);
    w.send();
}

void Client::writeStderr(LogLevel level, std::string_view msg) {
    if (options_.stderr_fd < 0) return;
    char when[32];
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string line;
    line.reserve(msg.size() + 64);
    line += when;
    line += ' ';
    line += logLevelName(level);
    line += ' ';
    if (!options_.log_source.empty()) {
        line += options_.log_source;
        line += ": ";
    }
    line += msg;
    line += '\n';
    // One write per line so concurrent lines do not interleave; stderr is best effort.
    [[maybe_unused]] ssize_t n = ::write(options_.stderr_fd, line.data(), line.size());
}

bool Client::flush(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t target = committed_bytes_;
    if (settled_bytes_ >= target) return true;
    flush_requested_ = true;
    lock.unlock();
    wake();
    lock.lock();
    return flush_cv_.wait_for(lock, timeout, [&] { return settled_bytes_ >= target; });
}

ClientStats Client::stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    ClientStats s = stats_;
    s.buffered_bytes = active_.size();
    return s;
}

int64_t Client::now() {
    return static_cast<int64_t>(std::time(nullptr));
}

// ---------------------------------------------------------------------------------------------
// Client: the flusher thread

void Client::flusherLoop() {
    // Writes to a pipe whose reader is gone raise SIGPIPE in the writing thread; blocked here,
    // they fail with EPIPE instead even if the plugin never called installSignalHandlers().
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

    std::optional<std::chrono::steady_clock::time_point> deadline;
    bool watch_tasks = task_fd_ >= 0;
    bool watch_signal = true;
    for (;;) {
        bool write_now = false;
        bool dropped = false;
        bool exit_now = false;
        uint64_t outgoing_records = 0;
        uint64_t outgoing_upto = 0;
        {
            std::lock_guard<std::mutex> lock(mu_);
            const auto now = std::chrono::steady_clock::now();
            if (active_.empty()) {
                deadline.reset();
                flush_requested_ = false;
                exit_now = closing_;
            } else {
                if (!deadline) deadline = now + options_.flush_interval;
                if (closed_ || closing_ || flush_requested_ ||
                    active_.size() >= options_.buffer_bytes || now >= *deadline) {
                    if (closed_) {
                        stats_.records_dropped += active_records_;
                        active_.clear();
                        dropped = true;
                    } else {
                        // The encoder keeps pointing at active_; only the contents move.
                        std::swap(active_, outgoing_);
                        outgoing_records = active_records_;
                        write_now = true;
                    }
                    active_records_ = 0;
                    outgoing_upto = committed_bytes_;
                    settled_bytes_ = dropped ? committed_bytes_ : settled_bytes_;
                    flush_requested_ = false;
                    deadline.reset();
                }
            }
        }
        if (dropped) {
            space_cv_.notify_all();
            flush_cv_.notify_all();
            continue;
        }
        if (write_now) {
            space_cv_.notify_all();
            const bool ok = writeOut(outgoing_);
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (ok) {
                    stats_.bytes_written += outgoing_.size();
                    ++stats_.flushes;
                } else {
                    stats_.records_dropped += outgoing_records;
                }
                settled_bytes_ = outgoing_upto;
            }
            outgoing_.clear();
            flush_cv_.notify_all();
            space_cv_.notify_all();
            continue;
        }
        if (exit_now) break;

        noticeSignal();
        pollfd fds[3];
        nfds_t n = 0;
        fds[n++] = {wake_fd_, POLLIN, 0};
        const int sig_fd = watch_signal ? stopSignalFd() : -1;
        const nfds_t sig_at = n;
        if (sig_fd >= 0) fds[n++] = {sig_fd, POLLIN, 0};
        const nfds_t task_at = n;
        // No events requested: only POLLHUP (the agent closed the task pipe) is reported, so
        // unread tasks do not wake this thread.
        if (watch_tasks) fds[n++] = {task_fd_, 0, 0};
        // Idle: sleep until woken, unless handlers may still be installed later.
        const int timeout =
            deadline ? msUntil(*deadline) : (sig_fd >= 0 || !watch_signal ? -1 : kIdlePollMs);
        if (::poll(fds, n, timeout) < 0) continue;  // EINTR: re-evaluate
        if (fds[0].revents & POLLIN) drainEventFd(wake_fd_);
        if (sig_fd >= 0 && fds[sig_at].revents) {
            watch_signal = false;
            noticeSignal();
        }
        if (watch_tasks && fds[task_at].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            watch_tasks = false;
            markStopped("agent closed the task pipe");
        }
    }
}

bool Client::writeOut(const wire::Buffer& buf) {
    const char* p = buf.data();
    size_t left = buf.size();
    while (left > 0) {
        const ssize_t n = ::write(record_fd_, p, left);
        if (n > 0) {
            p += n;
            left -= static_cast<size_t>(n);
            continue;
        }
        const int err = n < 0 ? errno : EAGAIN;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                if (closing_ && std::chrono::steady_clock::now() >= shutdown_deadline_) {
                    writeStderr(LogLevel::kError,
                                "vigil sdk: record pipe still full at shutdown; dropping " +
                                    std::to_string(left) + " bytes");
                    return false;
                }
            }
            pollfd pfd{record_fd_, POLLOUT, 0};
            ::poll(&pfd, 1, kWritePollSliceMs);
            continue;
        }
        const std::string why =
            err == EPIPE ? "agent closed the record pipe" : errnoText("write record pipe", err);
        {
            std::lock_guard<std::mutex> lock(mu_);
            closed_ = true;
        }
        space_cv_.notify_all();
        markStopped(why);
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Client: tasks

Result<Task> Client::receiveTask() {
    std::lock_guard<std::mutex> lock(task_mu_);
    if (task_fd_ < 0) return Error{"receiveTask: no task pipe"};
    for (;;) {
        std::string_view frame;
        switch (task_decoder_.next(frame)) {
            case wire::FrameDecoder::Next::kFrame: {
                wire::TaskView v;
                if (!wire::parseTask(frame, v)) {
                    return Error{"receiveTask: malformed task frame of " +
                                 std::to_string(frame.size()) + " bytes skipped"};
                }
                return Task{v.data_type, std::string(v.object_name), std::string(v.data),
                            std::string(v.token)};
            }
            case wire::FrameDecoder::Next::kOversized: {
                const uint64_t len = task_decoder_.oversizedLength();
                task_decoder_.skipOversized();
                return Error{"receiveTask: task frame of " + std::to_string(len) +
                             " bytes exceeds the limit of " +
                             std::to_string(task_decoder_.maxFrameBytes()) + " bytes; skipped"};
            }
            case wire::FrameDecoder::Next::kNeedMore:
                break;
        }
        noticeSignal();
        if (!running()) return Error{"receiveTask: client stopped: " + stopReason()};

        pollfd fds[3];
        nfds_t n = 0;
        fds[n++] = {task_fd_, POLLIN, 0};
        fds[n++] = {stop_fd_, POLLIN, 0};
        const int sig_fd = stopSignalFd();
        if (sig_fd >= 0) fds[n++] = {sig_fd, POLLIN, 0};
        const int r = ::poll(fds, n, sig_fd >= 0 ? -1 : kIdlePollMs);
        if (r < 0) {
            if (errno == EINTR) continue;
            const std::string why = errnoText("poll task pipe", errno);
            markStopped(why);
            return Error{"receiveTask: " + why};
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) continue;
        size_t cap = 0;
        char* area = task_decoder_.readArea(&cap);
        const ssize_t got = ::read(task_fd_, area, cap);
        if (got > 0) {
            task_decoder_.commit(static_cast<size_t>(got));
            continue;
        }
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        const std::string why =
            got == 0 ? "agent closed the task pipe" : errnoText("read task pipe", errno);
        markStopped(why);
        return Error{"receiveTask: " + why};
    }
}

}  // namespace vigil::sdk
