// vigil::sdk::Client: a plugin's side of the agent pipes (DESIGN.md §3, sdk/README.md). Records
// are encoded straight into a buffered writer; tasks are read from the agent; logs and task
// results use the shared 1010 and 5100 records.
//
// Ownership: the Client owns both descriptors it is given (by default 3 and 4) and closes them:
// the record descriptor in shutdown(), the task descriptor in the destructor.
//
// Thread-safety: every method may be called from any thread. Records from many threads are
// serialised by one lock, held for the life of a RecordWriter (so build a record quickly and
// never keep a writer alive across blocking work; never hold two writers of one Client in the
// same thread, that self-deadlocks). receiveTask() serialises its callers; a plugin normally
// has one task thread.
//
// Buffering and back-pressure: records go into one of two buffers (default 512 KiB each). A
// background thread writes a buffer out when it is full, 200 ms after its first record, on
// flush() and on shutdown(); write() happens outside the lock, so senders keep filling the
// other buffer meanwhile. When both buffers are full because the agent does not read the pipe,
// record() blocks until the writer makes room: a plugin that outpaces its agent is slowed
// down, never grows without bound and never loses records silently. Records are only dropped
// (and counted in stats()) when a single record exceeds the frame limit, after the agent closed
// the record pipe, after shutdown(), or when shutdown() cannot drain within its timeout.
//
// Stopping: running() turns false when shutdown() is called, when SIGTERM/SIGINT arrives (see
// installSignalHandlers()), when the agent closes the task pipe (EOF on fd 3, noticed even if
// the plugin never calls receiveTask()) or the record pipe (EPIPE on fd 4). The plugin then
// finishes its work and calls shutdown() (or destroys the Client), which flushes and closes fd 4.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "libs/common/result.h"
#include "libs/wire/buffer.h"
#include "libs/wire/frame.h"
#include "libs/wire/record.h"
#include "vigil/sdk/protocol.h"
#include "vigil/sdk/signals.h"

namespace vigil::sdk {

// A task from the agent (Elkeid's Task message).
struct Task {
    int32_t data_type = 0;
    std::string object_name;
    std::string data;
    std::string token;
};

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };
const char* logLevelName(LogLevel level);

struct ClientOptions {
    int task_fd = kTaskFd;             // -1: no task pipe (receiveTask() fails)
    int record_fd = kRecordFd;         // made non-blocking by the Client
    size_t buffer_bytes = 512 * 1024;  // per buffer; two buffers
    std::chrono::milliseconds flush_interval{200};
    // How long shutdown() keeps trying to write buffered records to a pipe nobody reads.
    std::chrono::milliseconds shutdown_timeout{3000};
    uint32_t max_record_bytes = kMaxFrameBytes;  // larger records are dropped and counted
    uint32_t max_task_bytes = wire::kDefaultMaxFrameBytes;  // larger tasks are skipped
    std::string log_source;                       // `source` field of log records; omitted if empty
    LogLevel min_record_level = LogLevel::kInfo;  // lower levels go to stderr only
    int stderr_fd = 2;                            // where log lines go too; -1 for none
};

struct ClientStats {
    uint64_t records = 0;             // records committed to the buffer
    uint64_t bytes_written = 0;       // bytes written to the record pipe
    uint64_t records_dropped = 0;     // see the class comment for when
    uint64_t flushes = 0;             // buffer writes
    uint64_t backpressure_waits = 0;  // times a sender waited for buffer space
    size_t buffered_bytes = 0;        // in the filling buffer now
};

class Client;

// Builds one record in the Client's output buffer while holding the Client's lock. Obtained
// from Client::record(); commit with send() or by destruction; cancel() drops it. Move-only.
// Field values that are not valid UTF-8 are repaired (invalid bytes written as \xNN).
class RecordWriter {
public:
    RecordWriter(RecordWriter&& other) noexcept;
    RecordWriter& operator=(RecordWriter&&) = delete;
    RecordWriter(const RecordWriter&) = delete;
    RecordWriter& operator=(const RecordWriter&) = delete;
    ~RecordWriter() { send(); }

    RecordWriter& field(std::string_view key, std::string_view value) {
        if (active_) encoder_->field(key, value);
        return *this;
    }
    // Integers are written in decimal, bool as "true"/"false" (all Payload values are strings).
    template <std::integral T>
    RecordWriter& field(std::string_view key, T value) {
        if (active_) encoder_->field(key, value);
        return *this;
    }

    // Commits the record and releases the lock. False when the record was dropped (client shut
    // down, record pipe closed, record larger than max_record_bytes). Idempotent.
    bool send();
    // Drops the record and releases the lock.
    void cancel();

private:
    friend class Client;
    RecordWriter(Client* client, std::unique_lock<std::mutex> lock, bool active, size_t start);

    Client* client_;
    std::unique_lock<std::mutex> lock_;
    wire::RecordEncoder* encoder_;
    bool active_;
    size_t start_;
};

class Client {
public:
    // Plugin default: tasks on fd 3, records on fd 4.
    Client();
    explicit Client(ClientOptions options);
    // Tests and tools: the given descriptors (owned from now on).
    Client(int task_fd, int record_fd);
    // shutdown(), then closes the task descriptor.
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Starts a record; add fields, then send() (or let the writer go out of scope):
    //   client.record(59, Client::now()).field("exe", exe).field("pid", pid).send();
    // Blocks while both buffers are full (back-pressure).
    RecordWriter record(int32_t data_type, int64_t timestamp);
    RecordWriter record(int32_t data_type) { return record(data_type, now()); }

    // Convenience for low-rate records. False when dropped.
    bool sendRecord(int32_t data_type, int64_t timestamp,
                    const std::map<std::string, std::string>& fields);

    // Blocks for the next task from the agent. Errors:
    //  - the client stopped (shutdown, signal, EOF on the task pipe, read error): running() is
    //    false afterwards; stop reading tasks;
    //  - one bad frame (larger than max_task_bytes, or not a valid Task): running() stays true;
    //    the frame is skipped and the next call continues with the following task.
    Result<Task> receiveTask();

    // Sends a data_type 1010 record {level, msg, source, timestamp} (levels below
    // min_record_level are not sent) and writes a line to stderr_fd.
    void log(LogLevel level, std::string_view msg);
    void logError(std::string_view msg) { log(LogLevel::kError, msg); }

    // Sends the data_type 5100 result of a task: {token, status: "succeed"|"failed", msg}.
    bool sendTaskResult(std::string_view token, bool ok, std::string_view msg);

    // Writes everything committed so far to the pipe and waits until it is written (or dropped).
    // False on timeout.
    bool flush(std::chrono::milliseconds timeout = std::chrono::seconds(10));

    bool running() const;
    // Waits until running() is false; true if it is, false on timeout.
    bool waitForShutdown(std::chrono::milliseconds timeout);
    // Why the client stopped ("" while running).
    std::string stopReason() const;
    // Stops the client (running() turns false, receiveTask() returns) without flushing yet.
    void requestStop(std::string_view reason = "stop requested");
    // Stops the client, writes every buffered record (for at most shutdown_timeout) and closes
    // the record descriptor. Later records are dropped. Idempotent.
    void shutdown();

    ClientStats stats() const;

    // Seconds since the epoch, the unit of Record.timestamp.
    static int64_t now();

private:
    friend class RecordWriter;
    void init();
    bool commitLocked(size_t start, bool* wake);  // called by RecordWriter with mu_ held
    void noticeSignal();
    void flusherLoop();
    bool writeOut(const wire::Buffer& buf);
    void wake();
    void markStopped(std::string_view reason);
    void writeStderr(LogLevel level, std::string_view msg);

    ClientOptions options_;
    int task_fd_;
    int record_fd_;
    int wake_fd_ = -1;  // eventfd: wakes the flusher
    int stop_fd_ = -1;  // eventfd: readable (never drained) once stopped; wakes receiveTask()

    // Record path, guarded by mu_.
    mutable std::mutex mu_;
    std::condition_variable space_cv_;  // senders waiting for buffer space
    std::condition_variable flush_cv_;  // flush() waiters
    wire::Buffer active_;
    wire::RecordEncoder encoder_{active_};
    uint64_t active_records_ = 0;
    uint64_t committed_bytes_ = 0;  // total bytes ever committed
    uint64_t settled_bytes_ = 0;    // of those, written or dropped
    bool flush_requested_ = false;
    bool closing_ = false;   // shutdown() called: drain and exit the flusher
    bool closed_ = false;    // record descriptor closed or broken: drop everything
    ClientStats stats_;

    // Owned by the flusher thread.
    wire::Buffer outgoing_;
    std::chrono::steady_clock::time_point shutdown_deadline_;

    // Stop state.
    mutable std::mutex state_mu_;
    std::condition_variable state_cv_;
    std::atomic<bool> running_{true};
    std::string stop_reason_;

    // Task path, guarded by task_mu_.
    std::mutex task_mu_;
    wire::FrameDecoder task_decoder_;

    std::once_flag shutdown_once_;
    std::thread flusher_;
};

}  // namespace vigil::sdk
