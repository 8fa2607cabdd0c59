// PluginHarness: spawns a plugin with posix_spawn (safe in multi-threaded test processes) laid
// out as the agent does, and decodes its records on a reader thread.
#include "sdk/testkit/plugin_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "libs/wire/batch.h"
#include "libs/wire/record.h"

namespace vigil::sdk::testkit {
namespace {

Error errnoError(const std::string& what, int err) {
    return Error{what + ": " + std::strerror(err)};
}

// Moves a descriptor to >= 10 (close-on-exec) so the dup2 onto 3 and 4 in the child can never
// collide with a source descriptor.
int moveHigh(int fd) {
    const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
    ::close(fd);
    return high;
}

int msLeft(PluginHarness::Clock::time_point deadline) {
    auto d = std::chrono::ceil<std::chrono::milliseconds>(deadline - PluginHarness::Clock::now());
    return d.count() < 0 ? 0 : static_cast<int>(std::min<int64_t>(d.count(), INT32_MAX));
}

// write() with SIGPIPE blocked in this thread: a plugin that exited turns into EPIPE instead of
// killing the test process. A SIGPIPE raised here is consumed before unblocking.
ssize_t writeNoSigpipe(int fd, const char* data, size_t len) {
    sigset_t pipe_set, old_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    sigpending(&pending);
    const bool was_pending = sigismember(&pending, SIGPIPE);
    const ssize_t n = ::write(fd, data, len);
    const int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        const timespec zero{0, 0};
        sigtimedwait(&pipe_set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
    errno = err;
    return n;
}

ExitStatus fromSiginfo(const siginfo_t& info) {
    ExitStatus s;
    if (info.si_code == CLD_EXITED) {
        s.exited = true;
        s.code = info.si_status;
    } else {
        s.signal = info.si_status;
    }
    return s;
}

}  // namespace

std::string ReceivedRecord::field(const std::string& key) const {
    auto it = fields.find(key);
    return it == fields.end() ? std::string() : it->second;
}

std::string ExitStatus::describe() const {
    std::string s = exited ? "exit " + std::to_string(code)
                           : (signal ? "killed by signal " + std::to_string(signal) : "not run");
    if (killed_after_grace) s += " (SIGKILL after grace)";
    return s;
}

Result<StagedPlugin> StagedPlugin::create(const std::string& executable) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path src = fs::absolute(executable, ec);
    if (ec || !fs::is_regular_file(src, ec)) {
        return Error{"StagedPlugin: " + executable + " is not a file"};
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/vigil-plugin-XXXXXX";
    if (!::mkdtemp(templ.data())) return errnoError("StagedPlugin: mkdtemp " + templ, errno);
    StagedPlugin staged;
    staged.root_ = templ;
    const std::string name = src.filename().string();
    staged.dir_ = templ + "/" + name;
    staged.path_ = staged.dir_ + "/" + name;
    fs::create_directory(staged.dir_, ec);
    if (!ec) fs::copy_file(src, staged.path_, ec);
    if (ec) return Error{"StagedPlugin: copy " + src.string() + ": " + ec.message()};
    return staged;
}

StagedPlugin::StagedPlugin(StagedPlugin&& other) noexcept
    : root_(std::exchange(other.root_, std::string())),
      dir_(std::move(other.dir_)),
      path_(std::move(other.path_)) {}

StagedPlugin::~StagedPlugin() {
    if (root_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
}

PluginHarness::PluginHarness(HarnessOptions options)
    : options_(options), decoder_(options.max_frame_bytes) {}

PluginHarness::~PluginHarness() {
    if (started_) stop(std::chrono::seconds(1));
}

Status PluginHarness::start(const std::string& path, const std::string& detail) {
    if (started_) return Error{"PluginHarness::start: already started"};
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::absolute(path, ec);
    if (ec) return Error{"PluginHarness::start: " + path + ": " + ec.message()};
    if (::access(exe.c_str(), X_OK) != 0 || !std::filesystem::is_regular_file(exe, ec)) {
        return Error{"PluginHarness::start: " + exe.string() + " is not an executable file"};
    }
    dir_ = exe.parent_path().string();
    stderr_path_ = (exe.parent_path() / (exe.filename().string() + ".stderr")).string();

    int task_pipe[2], record_pipe[2];
    if (::pipe2(task_pipe, O_CLOEXEC) != 0) return errnoError("pipe2", errno);
    if (::pipe2(record_pipe, O_CLOEXEC) != 0) {
        const int err = errno;
        ::close(task_pipe[0]);
        ::close(task_pipe[1]);
        return errnoError("pipe2", err);
    }
    const int child_tasks = moveHigh(task_pipe[0]);
    const int child_records = moveHigh(record_pipe[1]);
    task_fd_ = task_pipe[1];
    record_fd_ = record_pipe[0];
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) {
        const int err = errno;
        for (int fd : {child_tasks, child_records, task_fd_, record_fd_}) ::close(fd);
        task_fd_ = record_fd_ = -1;
        return errnoError("PluginHarness::start: eventfd", err);
    }
    // Non-blocking so a plugin that never reads tasks cannot hang sendTask() forever.
    ::fcntl(task_fd_, F_SETFL, ::fcntl(task_fd_, F_GETFL) | O_NONBLOCK);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
    posix_spawn_file_actions_adddup2(&actions, child_tasks, 3);
    posix_spawn_file_actions_adddup2(&actions, child_records, 4);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addclosefrom_np(&actions, 5);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t no_signals, all_signals;
    sigemptyset(&no_signals);
    sigfillset(&all_signals);
    sigdelset(&all_signals, SIGKILL);
    sigdelset(&all_signals, SIGSTOP);
    // sigfillset() leaves out glibc's internal signals (32, 33), which posix_spawn would then
    // leave ignored in the plugin; the agent's fork+exec leaves them at their default. Set
    // their bits directly (sigaddset refuses them).
    for (int sig = 32; sig <= 33 && sig < SIGRTMIN; ++sig) {
        reinterpret_cast<unsigned long*>(&all_signals)[0] |= 1ul << (sig - 1);
    }
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &no_signals);
    posix_spawnattr_setsigdefault(&attr, &all_signals);

    std::string exe_str = exe.string();
    std::string env_detail = "DETAIL=" + detail;
    char* argv[] = {exe_str.data(), nullptr};
    char* envp[] = {env_detail.data(), nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, exe_str.c_str(), &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(child_tasks);
    ::close(child_records);
    if (rc != 0) {
        ::close(task_fd_);
        ::close(record_fd_);
        ::close(wake_fd_);
        task_fd_ = record_fd_ = wake_fd_ = -1;
        return errnoError("PluginHarness::start: posix_spawn " + exe_str, rc);
    }
    pid_ = pid;
    started_ = true;
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));  // -1: fall back to polling
    reader_ = std::thread([this] { readerLoop(); });
    return okStatus();
}

// ---------------------------------------------------------------------------------------------
// Tasks

Status PluginHarness::sendTask(int32_t data_type, std::string_view object_name,
                               std::string_view data, std::string_view token) {
    wire::Buffer frame;
    wire::appendTaskFrame(frame, data_type, object_name, data, token);
    return sendRaw(frame.view());
}

Status PluginHarness::sendRaw(std::string_view bytes) {
    if (task_fd_ < 0) return Error{"PluginHarness: task pipe is closed (or never opened)"};
    const auto deadline = Clock::now() + options_.task_write_timeout;
    size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = writeNoSigpipe(task_fd_, bytes.data() + off, bytes.size() - off);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            const int left = msLeft(deadline);
            if (left == 0) {
                return Error{"PluginHarness: task pipe full (the plugin does not read fd 3)"};
            }
            pollfd pfd{task_fd_, POLLOUT, 0};
            ::poll(&pfd, 1, left);
            continue;
        }
        return errnoError("PluginHarness: write task pipe", errno);
    }
    return okStatus();
}

void PluginHarness::closeTasks() {
    if (task_fd_ >= 0) {
        ::close(task_fd_);
        task_fd_ = -1;
    }
}

// ---------------------------------------------------------------------------------------------
// Records

void PluginHarness::readerLoop() {
    std::vector<ReceivedRecord> batch;
    for (;;) {
        pollfd fds[2] = {{record_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents & POLLIN) break;
        size_t cap = 0;
        char* area = decoder_.readArea(&cap);
        const ssize_t n = ::read(record_fd_, area, cap);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;  // EOF: every writer of fd 4 is gone
        decoder_.commit(static_cast<size_t>(n));
        batch.clear();
        uint64_t frames = 0, oversized = 0;
        std::string_view frame;
        for (;;) {
            const auto next = decoder_.next(frame);
            if (next == wire::FrameDecoder::Next::kFrame) {
                ++frames;
                handleFrame(frame, batch);
            } else if (next == wire::FrameDecoder::Next::kOversized) {
                ++frames;
                ++oversized;
                decoder_.skipOversized();
            } else {
                break;
            }
        }
        {
            std::lock_guard<std::mutex> lock(mu_);
            counters_.bytes += static_cast<uint64_t>(n);
            counters_.frames += frames;
            counters_.oversized_frames += oversized;
            for (auto& r : batch) records_.push_back(std::move(r));
        }
        if (!batch.empty()) cv_.notify_all();
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        pipe_closed_ = true;
    }
    cv_.notify_all();
}

void PluginHarness::handleFrame(std::string_view frame, std::vector<ReceivedRecord>& out) {
    wire::RecordView view;
    wire::PayloadCheck check;
    const wire::RecordError err = wire::parseRecord(frame, view, scratch_, &check);
    ReceivedRecord rec;
    if (err != wire::RecordError::kNone || !wire::decodePayload(view.payload, rec.fields)) {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.malformed_frames;
        return;
    }
    rec.data_type = view.data_type;
    rec.timestamp = view.timestamp;
    {
        std::lock_guard<std::mutex> lock(mu_);
        ++counters_.records;
        if (!check.utf8) ++counters_.invalid_utf8_records;
    }
    out.push_back(std::move(rec));  // `out` belongs to the reader thread
}

std::vector<ReceivedRecord> PluginHarness::records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
}

std::vector<ReceivedRecord> PluginHarness::records(int32_t data_type) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ReceivedRecord> out;
    for (const auto& r : records_) {
        if (r.data_type == data_type) out.push_back(r);
    }
    return out;
}

size_t PluginHarness::recordCount() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_.size();
}

void PluginHarness::clearRecords() {
    std::lock_guard<std::mutex> lock(mu_);
    records_.clear();
}

bool PluginHarness::waitFor(const RecordsPredicate& pred, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return pred(records_) || pipe_closed_; });
    return pred(records_);
}

bool PluginHarness::waitForCount(size_t n, std::chrono::milliseconds timeout) {
    return waitFor([n](const std::vector<ReceivedRecord>& r) { return r.size() >= n; }, timeout);
}

std::optional<ReceivedRecord> PluginHarness::waitForRecord(const RecordMatch& match,
                                                           std::chrono::milliseconds timeout) {
    std::optional<ReceivedRecord> found;
    waitFor(
        [&](const std::vector<ReceivedRecord>& recs) {
            for (const auto& r : recs) {
                if (match(r)) {
                    found = r;
                    return true;
                }
            }
            return false;
        },
        timeout);
    return found;
}

HarnessCounters PluginHarness::counters() const {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
}

bool PluginHarness::recordPipeClosed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return pipe_closed_;
}

// ---------------------------------------------------------------------------------------------
// Process lifetime

std::optional<ExitStatus> PluginHarness::peekExit() {
    std::lock_guard<std::mutex> lock(exit_mu_);
    if (exit_) return exit_;
    if (pid_ <= 0) return std::nullopt;
    // WNOWAIT: observe the exit but leave the zombie, so the process group id stays ours
    // until stop() has killed the rest of the group.
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
        info.si_pid == 0) {
        return std::nullopt;
    }
    exit_ = fromSiginfo(info);
    return exit_;
}

std::optional<ExitStatus> PluginHarness::exitStatus() {
    if (stopped_) return final_status_;
    return peekExit();
}

bool PluginHarness::waitExitNoReap(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (peekExit()) return true;
        const int left = msLeft(deadline);
        if (left == 0) return false;
        if (pidfd_ >= 0) {
            pollfd pfd{pidfd_, POLLIN, 0};
            ::poll(&pfd, 1, left);
        } else {
            // No pidfd (old kernel): poll the process state.
            ::usleep(static_cast<useconds_t>(std::min(left, 10)) * 1000);
        }
    }
}

bool PluginHarness::waitForExit(std::chrono::milliseconds timeout) {
    if (!started_) return false;
    if (stopped_) return true;
    return waitExitNoReap(timeout);
}

void PluginHarness::stopReader(std::chrono::milliseconds drain_timeout) {
    if (!reader_.joinable()) return;
    {
        // Every writer is dead by now, so EOF is near; wait for it to collect the last records
        // unless a grandchild outside the group still holds fd 4.
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, drain_timeout, [this] { return pipe_closed_; });
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
    reader_.join();
}

ExitStatus PluginHarness::stop(std::chrono::milliseconds grace) {
    if (!started_) return ExitStatus{};
    if (stopped_) return final_status_;
    closeTasks();
    bool killed = false;
    if (!peekExit()) {
        ::kill(-pid_, SIGTERM);
        if (!waitExitNoReap(grace)) {
            ::kill(-pid_, SIGKILL);
            killed = true;
            waitExitNoReap(std::chrono::seconds(30));
        }
    }
    // The leader is a zombie (or still dying): its group id cannot be reused yet.
    ::kill(-pid_, SIGKILL);
    int wstatus = 0;
    while (::waitpid(pid_, &wstatus, 0) < 0 && errno == EINTR) {
    }
    ExitStatus status;
    if (WIFEXITED(wstatus)) {
        status.exited = true;
        status.code = WEXITSTATUS(wstatus);
    } else if (WIFSIGNALED(wstatus)) {
        status.signal = WTERMSIG(wstatus);
    }
    status.killed_after_grace = killed;
    stopReader(std::chrono::seconds(2));
    ::close(record_fd_);
    ::close(wake_fd_);
    if (pidfd_ >= 0) ::close(pidfd_);
    record_fd_ = wake_fd_ = pidfd_ = -1;
    final_status_ = status;
    stopped_ = true;
    return status;
}

std::string PluginHarness::readStderr() const {
    std::ifstream in(stderr_path_, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool PluginHarness::waitForStderr(std::string_view needle,
                                  std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (readStderr().find(needle) != std::string::npos) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace vigil::sdk::testkit
