// Registry: the instances registered with one vigil-discovery replica (Elkeid's
// ServiceDiscovery): least-load look-up, health levels by age since the last registration,
// expiry, and the change/merge rules that let replicas converge (DESIGN.md §1, docs/discovery.md).
// Thread-safety: every method is thread-safe (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace vigil::discovery {

// Health by age since the last registration, as fractions of the eviction age (Elkeid's
// 45/60/75/90/105 s with the default 105 s): green <= 3/7, blue <= 4/7, yellow <= 5/7,
// orange <= 6/7, red <= 1; older instances are evicted.
enum class Health { kGreen, kBlue, kYellow, kOrange, kRed };
const char* healthName(Health h);

struct Instance {
    std::string name;
    std::string ip;
    int port = 0;
    int64_t weight = 0;  // the load: current connections
    nlohmann::json extra = nlohmann::json::object();
    int64_t create_at = 0;  // unix seconds of the first registration
    int64_t update_at = 0;  // unix seconds of the last registration
};

enum class ChangeAction { kRegister, kEvict };

// One change to replicate. `at_ms` is when it happened on this replica's steady clock; it
// travels as an age ("age_ms") so that replicas need no synchronised clocks.
struct Change {
    ChangeAction action = ChangeAction::kRegister;
    Instance instance;  // evict: name, ip, port
    int64_t at_ms = 0;
};

struct RegistryOptions {
    std::chrono::milliseconds evict_after{105000};
    size_t max_instances = 100000;  // registrations of new instances beyond it are refused
    size_t max_detail = 100;        // cap of detail()'s count
    // Clocks: steady milliseconds for ages, unix seconds for create_at/update_at.
    std::function<int64_t()> steady_ms;
    std::function<int64_t()> unix_s;
};

struct DetailEntry {
    Instance instance;
    Health health = Health::kGreen;
};

struct NameCount {
    std::string name;
    size_t count = 0;    // instances known
    size_t healthy = 0;  // green, blue or yellow
};

class Registry {
public:
    explicit Registry(RegistryOptions options);

    // A registration received by this replica. Keeps create_at of a known instance. Returns the
    // change to replicate, or nullopt when the registry is full (max_instances).
    std::optional<Change> registerInstance(Instance instance);
    // An eviction received by this replica; `existed` tells whether it was known. The change is
    // replicated either way (a peer may know the instance).
    Change evict(const std::string& name, const std::string& ip, int port, bool* existed = nullptr);
    // Applies a change from a peer, `age_ms` old. Newer information wins: a registration older
    // than what is known or than an eviction of the same instance is ignored, an eviction only
    // removes an instance not registered again since. True when the state changed.
    bool apply(ChangeAction action, const Instance& instance, int64_t age_ms);

    // Removes instances older than evict_after (and forgets old evictions); returns their
    // evictions, to replicate.
    std::vector<Change> expire();
    // Every instance and every recent eviction, as changes (a full state for a peer).
    std::vector<Change> snapshot() const;

    // Up to `count` (0 = all, capped at max_detail) live instances of `name`: healthy (green,
    // blue, yellow) before orange/red, each group by weight ascending, equal weights shuffled.
    std::vector<DetailEntry> detail(const std::string& name, size_t count) const;
    std::vector<NameCount> list() const;
    size_t size() const;

    Health healthForAge(int64_t age_ms) const;
    int64_t nowMs() const { return options_.steady_ms(); }
    const RegistryOptions& options() const { return options_; }

private:
    using Key = std::tuple<std::string, std::string, int>;  // name, ip, port
    struct Entry {
        Instance instance;
        int64_t last_seen_ms = 0;  // steady clock
    };

    RegistryOptions options_;
    mutable std::mutex mu_;
    std::map<Key, Entry> entries_;
    // Tombstones: key -> steady time of the eviction, kept for evict_after so that a late,
    // older registration cannot bring an evicted instance back. At most max_instances of them
    // (past that, evictions of unknown instances leave none).
    std::map<Key, int64_t> evictions_;
    mutable std::mt19937_64 rng_;
};

}  // namespace vigil::discovery
