// Bus entry points shared by both backends: families, partitioning, the blocking append and
// Bus::open, which picks the backend named in the options.
#include "server/bus/bus.h"

#include <condition_variable>
#include <mutex>

#include "server/bus/embedded_bus.h"
#include "server/bus/nats_bus.h"

namespace vigil::bus {

const char* familyName(Family f) {
    switch (f) {
        case Family::kDriver: return "driver";
        case Family::kAgent: return "agent";
        case Family::kJournal: return "journal";
        case Family::kCollector: return "collector";
        case Family::kScanner: return "scanner";
        case Family::kBaseline: return "baseline";
        case Family::kOther: break;
    }
    return "other";
}

Family familyOf(int32_t data_type) {
    if (data_type >= 1 && data_type <= 999) return Family::kDriver;
    if (data_type >= 1000 && data_type <= 1999) return Family::kAgent;
    if (data_type >= 4000 && data_type <= 4999) return Family::kJournal;
    if (data_type >= 5000 && data_type <= 5999) return Family::kCollector;
    if (data_type >= 6000 && data_type <= 6999) return Family::kScanner;
    if (data_type >= 8000 && data_type <= 8999) return Family::kBaseline;
    return Family::kOther;
}

uint32_t partitionOf(std::string_view agent_id, uint32_t partitions) {
    uint32_t h = 2166136261u;  // FNV-1a, 32 bits
    for (unsigned char c : agent_id) {
        h ^= c;
        h *= 16777619u;
    }
    return partitions == 0 ? 0 : h % partitions;
}

Status checkGroupName(std::string_view group) {
    bool ok = !group.empty() && group.size() <= 64;
    for (char c : group) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-');
    }
    if (!ok) return makeError("bus: bad consumer group name '{}' (1-64 of A-Z a-z 0-9 _ -)", group);
    return okStatus();
}

Status Producer::append(std::span<const Message> messages) {
    struct Wait {
        std::mutex mu;
        std::condition_variable cv;
        bool done = false;
        Status status;
    };
    auto w = std::make_shared<Wait>();
    appendAsync(messages, [w](Status s) {
        std::lock_guard lock(w->mu);
        w->status = std::move(s);
        w->done = true;
        w->cv.notify_one();
    });
    std::unique_lock lock(w->mu);
    w->cv.wait(lock, [&] { return w->done; });
    return w->status;
}

Result<std::unique_ptr<Bus>> Bus::open(const BusOptions& options, metrics::Registry& metrics) {
    if (options.partitions == 0 || options.partitions > 4096) {
        return makeError("bus: partitions must be 1..4096 (got {})", options.partitions);
    }
    if (options.backend == "embedded") return openEmbeddedBus(options, metrics);
    if (options.backend == "nats") return openNatsBus(options, metrics);
    return makeError("bus: unknown backend '{}' (embedded or nats)", options.backend);
}

}  // namespace vigil::bus
