// The embedded bus's writer: the one process per bus directory that appends. Producers encode
// entries on their own threads into per-partition staging buffers; one writer thread takes a
// whole batch at a time (group commit), writes each partition's part with one pwrite, fsyncs
// the touched segments (fdatasync, partitions in parallel), publishes the new durable heads and only then runs the
// appends' callbacks. It also rolls segments and applies retention.
// Thread-safety: appendAsync and flush from any thread; callbacks run on the writer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libs/wire/buffer.h"
#include "server/bus/bus.h"
#include "server/bus/bus_metrics.h"

namespace vigil::bus {

// Runs fn(0..n-1) on a few threads plus the caller and returns when all are done: the writer
// writes and fsyncs the partitions of a batch in parallel with it.
class SyncWorkers {
public:
    explicit SyncWorkers(size_t threads);
    ~SyncWorkers();
    void run(size_t n, const std::function<void(size_t)>& fn);

private:
    void loop();
    void work(std::unique_lock<std::mutex>& lock);

    std::mutex mu_;
    std::condition_variable work_cv_;
    std::condition_variable done_cv_;
    const std::function<void(size_t)>* fn_ = nullptr;
    size_t n_ = 0;
    size_t next_ = 0;
    size_t finished_ = 0;
    uint64_t generation_ = 0;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

class EmbeddedWriter final : public Producer {
public:
    // Takes the writer lock of options.dir (an error naming the holder's pid when another
    // process has it) and recovers every partition (truncating torn tails).
    static Result<std::unique_ptr<EmbeddedWriter>> open(const BusOptions& options,
                                                        uint32_t partitions, BusMetrics& metrics);
    ~EmbeddedWriter() override;  // completes every accepted append, then stops

    void appendAsync(std::span<const Message> messages, AppendCallback done) override;
    void flush() override;

private:
    using Clock = std::chrono::steady_clock;

    struct Segment {
        uint64_t base = 0;
        uint64_t bytes = 0;
        std::chrono::system_clock::time_point last_write;
    };
    struct PartitionLog {
        std::string dir;
        int fd = -1;                    // active (last) segment
        uint64_t next_offset = 0;
        std::deque<Segment> segments;   // oldest first; back() is the active one
    };
    struct Pending {
        AppendCallback done;
        Clock::time_point start;
        uint64_t messages = 0;
        uint64_t bytes = 0;
        Error error;                    // non-empty message: completes with this error
    };
    // What producers fill while the writer thread writes the previous one.
    struct Batch {
        std::vector<wire::Buffer> data;     // per partition, encoded entries
        std::vector<uint32_t> entries;      // per partition
        std::vector<uint32_t> touched;      // partitions with data, in first-use order
        std::vector<Pending> pending;
        uint64_t bytes = 0;
        Clock::time_point first;            // when the first append arrived
    };

    EmbeddedWriter(const BusOptions& options, uint32_t partitions, BusMetrics& metrics);
    Status recover();
    Status recoverPartition(uint32_t p);
    void run();
    // Writes, fsyncs and publishes one batch; the error, if any, fails all of its appends.
    Status writeBatch(Batch& batch);
    Status rollSegment(PartitionLog& log);
    void publishHeads();
    void applyRetention();
    void complete(Batch& batch, const Status& status);
    void reserveSpace(int fd);

    BusOptions options_;
    uint32_t partitions_;
    BusMetrics& metrics_;
    int lock_fd_ = -1;
    int heads_fd_ = -1;
    std::vector<PartitionLog> logs_;
    Clock::time_point last_retention_{};
    std::vector<Status> results_;         // per touched partition of the batch being written
    bool rolled_ = false;

    std::mutex mu_;
    std::condition_variable writer_cv_;   // work for the writer thread
    std::condition_variable space_cv_;    // room in the filling batch
    std::condition_variable flushed_cv_;  // appends completed
    Batch filling_;
    Batch writing_;                       // owned by the writer thread between swaps
    uint64_t accepted_ = 0;               // appends accepted (mu_)
    uint64_t completed_ = 0;              // appends completed (mu_)
    bool flush_requested_ = false;
    bool stopping_ = false;
    std::unique_ptr<SyncWorkers> workers_;
    std::thread thread_;
};

// A producer for processes that only consume (BusOptions::writer = false).
class ReadOnlyProducer final : public Producer {
public:
    explicit ReadOnlyProducer(std::string dir) : dir_(std::move(dir)) {}
    void appendAsync(std::span<const Message> messages, AppendCallback done) override;
    void flush() override {}

private:
    std::string dir_;
};

}  // namespace vigil::bus
