// DiskSpool: the Spool implementation (segment files per lane, an in-memory index of unacked
// batches, a memory cache of recent ones). Internal to agent/spool; use Spool::open().
// Thread-safety: as Spool. append() calls are serialised among themselves by append_mu_ and do
// their disk write without holding mu_, so the sender's next()/ack() never wait for the disk.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/spool/spool.h"
#include "agent/spool/spool_format.h"

namespace vigil::agent {

class DiskSpool final : public Spool {
public:
    DiskSpool(const SpoolOptions& options, metrics::Registry& metrics);
    ~DiskSpool() override;

    // Scans the directory: loads the ack state, truncates torn tails, indexes unacked batches
    // and deletes segments with nothing left to send.
    Status recover();

    Result<uint64_t> append(Lane lane, wire::BatchBuilder& builder,
                            std::string_view encoded_header) override;
    bool next(uint64_t after_seq, SpooledBatch& out, std::chrono::milliseconds timeout) override;
    void ack(uint64_t ack_seq) override;
    SpoolStats stats() const override;
    void close() override;

private:
    // One segment file. Shared by the index entries that point into it, so a reader holding an
    // entry can still pread a segment that was deleted meanwhile (the fd outlives the name).
    struct Segment {
        Lane lane = Lane::kTelemetry;
        uint64_t key = 0;  // first seq from the file name: orders segments by age
        std::string path;
        int fd = -1;
        uint64_t size = 0;     // bytes of valid entries; the next entry goes here
        uint32_t pending = 0;  // entries not yet acked
        std::vector<uint64_t> seqs;
        ~Segment();
    };
    struct Entry {
        std::shared_ptr<Segment> segment;
        uint64_t offset = 0;
        uint32_t length = 0;
        uint32_t records = 0;
        Lane lane = Lane::kTelemetry;
    };

    Result<std::shared_ptr<Segment>> createSegment(Lane lane, uint64_t first_seq);
    void failAppend(uint32_t records, const std::string& why);
    // Drops the oldest telemetry segments while the spool is over max_bytes.
    void shedLocked();
    void removeSegmentLocked(const std::shared_ptr<Segment>& segment);
    // Writes ack_state_ with issued_seq = the last seq handed out; false (counted, logged) if
    // it could not be written. Call it before deleting a segment.
    bool persistAckLocked();
    void updateGaugesLocked();

    SpoolOptions options_;
    std::mutex append_mu_;
    mutable std::mutex mu_;
    std::condition_variable cv_;

    std::map<uint64_t, std::shared_ptr<Segment>> segments_[2];  // per lane, by key
    std::shared_ptr<Segment> active_[2];
    std::shared_ptr<Segment> writing_;   // the segment an append is writing to outside mu_
    std::map<uint64_t, Entry> pending_;  // unacked batches by seq
    std::map<uint64_t, std::shared_ptr<const std::string>> cache_;
    uint64_t cache_bytes_ = 0;
    uint64_t pending_bytes_ = 0;
    uint64_t disk_bytes_ = 0;

    int ack_fd_ = -1;
    spool_format::AckState ack_state_;
    uint64_t next_seq_ = 1;
    bool closed_ = false;

    uint64_t dropped_records_ = 0;
    uint64_t dropped_batches_ = 0;
    uint64_t write_errors_ = 0;
    uint64_t failed_records_ = 0;
    uint64_t truncated_bytes_ = 0;

    metrics::Counter* appended_batches_;
    metrics::Counter* appended_records_;
    metrics::Counter* shed_records_;
    metrics::Counter* shed_batches_;
    metrics::Counter* write_error_records_;
    metrics::Counter* corrupt_records_;
    metrics::Counter* write_errors_metric_;
    metrics::Counter* disk_reads_;
    metrics::Gauge* pending_batches_gauge_;
    metrics::Gauge* pending_bytes_gauge_;
    metrics::Gauge* disk_bytes_gauge_;
};

}  // namespace vigil::agent
