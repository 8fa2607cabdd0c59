// A consumer of the embedded bus: reads the segment files directly (from any process on the
// machine), never past the durable heads the writer publishes, waits for new data with inotify
// on the bus directory, and keeps its group's committed positions in
// <dir>/groups/<group>/pNNN.pos, each held with flock by one consumer at a time.
// Thread-safety: as Consumer (bus.h).
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/bus/bus.h"
#include "server/bus/bus_metrics.h"
#include "server/bus/log_format.h"

namespace vigil::bus {

class EmbeddedConsumer final : public Consumer {
public:
    // Locks the group's partitions (an error naming the holder's pid when another consumer of
    // the group has one of them) and positions on the committed offsets.
    static Result<std::unique_ptr<EmbeddedConsumer>> open(const std::string& dir,
                                                          uint32_t partitions,
                                                          const ConsumerOptions& options,
                                                          BusMetrics& metrics);
    ~EmbeddedConsumer() override;

    Result<std::vector<Delivery>> fetch(size_t max, std::chrono::milliseconds timeout) override;
    Status commit(std::span<const Delivery> processed) override;
    uint64_t skipped() const override;

private:
    static constexpr uint64_t kNone = ~0ull;

    struct PartReader {
        uint32_t id = 0;
        std::string dir;               // partition directory
        int pos_fd = -1;               // position file, flock()ed
        uint64_t pos_seq = 0;
        uint64_t committed = 0;
        uint64_t next = 0;             // next offset to scan
        bool fresh = false;            // no committed position yet
        // The segment being read.
        int seg_fd = -1;
        uint64_t seg_base = 0;
        uint64_t cursor = 0;           // offset of the entry at buf[buf_pos]
        uint64_t file_at = 0;          // file offset of buf[0]
        std::string buf;
        size_t buf_len = 0;
        size_t buf_pos = 0;
        uint64_t complete_bytes = kNone;  // size of the open segment once it is finished
        uint64_t done_base = kNone;    // a segment read to its end (or given up as corrupt)
        uint64_t last_delivered = kNone;
    };

    EmbeddedConsumer(std::string dir, uint32_t partitions, ConsumerOptions options,
                     BusMetrics& metrics);
    Status lockPartition(PartReader& r);
    void readHeads();
    Status openSegment(PartReader& r);
    void closeSegment(PartReader& r);
    Status readPartition(PartReader& r, size_t budget, std::vector<Delivery>& out);
    void waitForChange(std::chrono::steady_clock::time_point deadline);
    void skipTo(PartReader& r, uint64_t offset);

    std::string dir_;
    uint32_t partitions_;
    ConsumerOptions options_;
    BusMetrics& metrics_;
    metrics::Counter& consumed_;
    metrics::Counter& skipped_counter_;
    std::array<bool, 7> families_{};
    mutable std::mutex mu_;
    std::vector<PartReader> parts_;
    std::vector<logfmt::Head> heads_;
    int heads_fd_ = -1;
    int inotify_fd_ = -1;
    size_t round_robin_ = 0;
    uint64_t skipped_ = 0;
};

}  // namespace vigil::bus
