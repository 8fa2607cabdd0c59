// The bus (DESIGN.md §2–3): carries every record from the centers to the hub and the manager as
// bus messages (Elkeid MQData), keyed and partitioned by agent_id so that one host's records
// stay in order within one partition. One interface, two backends:
//   - embedded: a durable segmented log in a data directory on this machine (default);
//   - nats: a NATS JetStream stream (distributed deployments).
// Delivery is at-least-once: a producer's append completes only once the messages are durable;
// a consumer group's position advances only when it commits.
// Thread-safety: Bus, Producer and Consumer are thread-safe (a Consumer serialises its calls;
// a fetch waiting for data does not block a commit from another thread).
// Ownership: a Bus owns its Producer; Consumers are owned by the caller and must be destroyed
// before the Bus that made them.
//
// Storage formats (the embedded log files, the NATS batch framing) are described in
// server/bus/log_format.h and server/bus/nats_framing.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/metrics.h"
#include "libs/common/result.h"

namespace vigil::bus {

// Record families: NATS subjects are vigil.rec.<partition>.<family>; consumers may filter.
enum class Family : uint8_t { kDriver, kAgent, kJournal, kCollector, kScanner, kBaseline, kOther };
const char* familyName(Family f);  // "driver", "agent", ..., "other": the subject token
// driver 1-999 (incl. 900/901), agent 1000-1999, journal 4000-4999, collector 5000-5999
// (incl. 5100 task results), scanner 6000-6999, baseline 8000-8999, anything else other.
Family familyOf(int32_t data_type);
uint32_t partitionOf(std::string_view agent_id, uint32_t partitions);  // stable hash (FNV-1a)
// Consumer group names: 1-64 of [A-Za-z0-9_-] (they name directories and NATS durables).
Status checkGroupName(std::string_view group);

// Limits of one message (larger ones fail their append with an error). The NATS backend is also
// bounded by the server's max_payload (1 MB by default).
inline constexpr size_t kMaxKeyBytes = 4096;
inline constexpr size_t kMaxValueBytes = 64u << 20;

struct Message {
    std::string_view key;   // agent_id
    int32_t data_type = 0;  // for the family; also inside value
    std::string_view value; // serialized vigil.bus.MQData
};

struct BusOptions {
    std::string backend = "embedded";   // "embedded" or "nats"
    uint32_t partitions = 8;            // fixed for the life of a bus
    // embedded
    std::string dir;                    // <data_dir>/bus
    uint64_t segment_bytes = 64ull << 20;
    uint64_t retention_bytes = 8ull << 30;           // per partition
    std::chrono::seconds retention_age{7 * 24 * 3600};
    std::chrono::milliseconds fsync_interval{5};     // group commit window
    // false: this process only consumes (hub, manager); it does not take the writer lock and
    // its producer fails every append. At most one writer process per directory.
    bool writer = true;
    // Accepted appends not yet durable, in bytes; appendAsync waits above this (backpressure).
    uint64_t max_pending_bytes = 256ull << 20;
    // nats
    std::string nats_url = "nats://127.0.0.1:4222";
    std::string stream = "VIGIL";
    std::chrono::seconds nats_max_age{7 * 24 * 3600};
    int64_t nats_max_bytes = -1;
    int nats_replicas = 1;
    // Subjects are <prefix>.<partition>.<family>; the stream holds <prefix>.>. Distinct
    // prefixes let several buses (tests) share one NATS server.
    std::string nats_subject_prefix = "vigil.rec";
    std::chrono::milliseconds nats_timeout{10000};   // connect, API calls, publish acks
    // How long a batch may keep filling while earlier ones are in flight (an idle pipe sends
    // at once): bigger batches, fewer JetStream messages, a little more latency under load.
    std::chrono::microseconds nats_linger{2000};
    std::chrono::seconds nats_ack_wait{30};          // a crashed consumer's messages return after this
};

// Completion of an append: ok once every message is durable.
using AppendCallback = std::function<void(Status)>;

class Producer {
public:
    virtual ~Producer() = default;
    // Appends `messages` (copied before returning) and calls `done` once all are durable, or
    // with an error. Never blocks for I/O (only for backpressure, while more than
    // max_pending_bytes wait to be stored): `done` runs on a bus thread; keep it short.
    // Messages of one key keep their order, across families too (see nats_producer.h).
    // `done` may call appendAsync (it then never waits for room), but not append or flush.
    virtual void appendAsync(std::span<const Message> messages, AppendCallback done) = 0;
    // Blocking convenience over appendAsync.
    Status append(std::span<const Message> messages);
    // Waits until every append accepted so far has completed (shutdown, drain).
    virtual void flush() = 0;
};

struct ConsumerOptions {
    std::string group{};                // durable name; positions are kept per group
    std::vector<uint32_t> partitions{}; // empty: all partitions
    std::vector<Family> families{};     // empty: all families
    bool from_latest = false;           // a new group starts at the end instead of the start
};

struct Delivery {
    uint32_t partition = 0;
    // Position within the partition, increasing: the entry index (embedded), or
    // stream_sequence * 65536 + index within the NATS message (nats).
    uint64_t offset = 0;
    int64_t bus_time_ns = 0;            // when the bus stored it
    int32_t data_type = 0;
    std::string key;
    std::string value;                  // serialized MQData
};

class Consumer {
public:
    virtual ~Consumer() = default;
    // Up to `max` messages, grouped by partition and in offset order within a partition;
    // waits up to `timeout` when none are available. An empty vector is a timeout.
    virtual Result<std::vector<Delivery>> fetch(size_t max, std::chrono::milliseconds timeout) = 0;
    // Marks everything fetched up to and including these deliveries as processed. A restarted
    // consumer of the same group resumes after the last commit (redelivering the rest).
    virtual Status commit(std::span<const Delivery> processed) = 0;
    // Messages this consumer never saw because retention deleted them before they were read
    // (embedded; the NATS stream applies its limits on the server).
    virtual uint64_t skipped() const { return 0; }
};

class Bus {
public:
    virtual ~Bus() = default;
    // Opens (creating when needed) the bus described by `options`.
    static Result<std::unique_ptr<Bus>> open(const BusOptions& options, metrics::Registry& metrics);
    virtual Producer& producer() = 0;
    virtual Result<std::unique_ptr<Consumer>> consumer(const ConsumerOptions& options) = 0;
    virtual uint32_t partitions() const = 0;
    virtual std::string describe() const = 0;  // e.g. "embedded /var/lib/vigil/bus (8 partitions)"
};

}  // namespace vigil::bus
