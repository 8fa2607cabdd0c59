// Spool: the agent's bounded, disk-backed queue of sealed batches not yet acknowledged by a
// center (DESIGN.md §3, §6). Every batch is written to disk when sealed, so a kill -9 of the
// agent loses nothing; on start the spool is scanned, a torn tail is truncated, and every
// unacknowledged batch is sent again (at-least-once). batch_seq values are assigned here and
// keep increasing across restarts.
//
// Two lanes: critical batches (task results and other data types configured as critical) are
// never shed; when the spool is over its size limit the oldest telemetry segment is dropped
// and its records are counted as dropped (cause "spool_full").
//
// Thread-safety: every method is thread-safe. One writer (the batcher) and one reader (the
// transport) run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "libs/wire/batch.h"

namespace vigil::agent {

enum class Lane : uint8_t { kTelemetry = 0, kCritical = 1 };

struct SpoolOptions {
    std::string dir;                            // <work_dir>/spool
    uint64_t max_bytes = 256ull << 20;          // telemetry is shed above this
    uint64_t segment_bytes = 8ull << 20;        // one file per lane per segment
    uint64_t memory_cache_bytes = 16ull << 20;  // recent batches also kept in memory for sending
    bool fsync = false;                         // fdatasync each append (power-loss safety)
};

struct SpooledBatch {
    uint64_t seq = 0;
    Lane lane = Lane::kTelemetry;
    uint32_t records = 0;
    std::shared_ptr<const std::string> bytes;  // a serialized PackagedData carrying batch_seq = seq
};

struct SpoolStats {
    uint64_t pending_batches = 0;
    uint64_t pending_bytes = 0;
    uint64_t acked_seq = 0;
    uint64_t last_seq = 0;
    uint64_t dropped_records = 0;  // shed because the spool was full
    uint64_t dropped_batches = 0;
    uint64_t write_errors = 0;
    uint64_t failed_records = 0;   // lost because a write failed or an entry was corrupt on disk
    uint64_t disk_bytes = 0;       // segment bytes on disk (what max_bytes limits)
    uint64_t truncated_bytes = 0;  // torn tails cut off when the spool was opened
};

class Spool {
public:
    // Opens (creating if needed) the spool directory and recovers its state.
    static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options,
                                               metrics::Registry& metrics);
    virtual ~Spool() = default;

    // Seals `builder` with `encoded_header` and the next batch_seq, persists it and returns the
    // seq. The builder is left empty. Returns an error only when the batch could not be stored
    // at all (disk full/unwritable); the records are then counted as dropped.
    virtual Result<uint64_t> append(Lane lane, wire::BatchBuilder& builder,
                                    std::string_view encoded_header) = 0;

    // The first stored batch with seq > after_seq (in seq order across both lanes). Waits up to
    // `timeout` for one to arrive. False on timeout or after close().
    virtual bool next(uint64_t after_seq, SpooledBatch& out, std::chrono::milliseconds timeout) = 0;

    // Cumulative acknowledgement: every batch with seq <= ack_seq is durable at the center.
    // Frees their disk space. Persisted, so a restart does not resend them.
    virtual void ack(uint64_t ack_seq) = 0;

    virtual SpoolStats stats() const = 0;
    // Wakes blocked next() callers; they return false from then on.
    virtual void close() = 0;
};

}  // namespace vigil::agent
