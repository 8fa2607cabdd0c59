// Synthetic fleet data for the manager's store: hosts and alerts skewed like a real fleet (a few
// noisy hosts and rules, most quiet; severities mostly low; most alerts new), loaded through the
// store's ingest API in batches as the bus consumer writes them. Used by the benchmarks
// (bench/manager_store, bench/manager), the console's browser tests and vigil-manager-seed.
// Not thread-safe: one Generator per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>

#include "libs/common/result.h"
#include "server/manager/store/store.h"

namespace vigil::manager::seed {

inline constexpr int64_t kHourMs = 3600 * 1000;
inline constexpr int64_t kDayMs = 24 * kHourMs;
inline constexpr int kRules = 200;

// The agent id of host number `host` (stable: the same number gives the same id).
std::string agentId(int host);

class Generator {
public:
    // Alerts fall in the `days` days before `now_ms`; `seed` fixes the sequence.
    Generator(int hosts, int64_t now_ms, int days, uint32_t seed = 20231114)
        : hosts_(hosts), now_(now_ms), days_(days), rng_(seed) {}

    int host();  // 80% of alerts from 5% of the hosts
    int rule();  // roughly Zipf: rule k about 1/(k+1) as often as rule 0
    int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }

    // Alert number i (ids are unique per i), with the hub's JSON: fields, process tree,
    // description and suggestion.
    Alert alert(int64_t i);
    // Host number h; 90% online (a heartbeat within the last minute).
    Host hostRecord(int h);

private:
    int hosts_;
    int64_t now_;
    int days_;
    std::mt19937 rng_;
};

struct SeedOptions {
    int64_t alerts = 1000000;
    int hosts = 10000;
    size_t batch = 1000;
    // Called after each batch of alerts with the number loaded so far.
    std::function<void(int64_t)> progress;
};

struct SeedResult {
    int64_t alerts_loaded = 0;   // 0 when the store already held enough
    int64_t alerts_present = 0;  // before loading
    double seconds = 0;
};

// Alerts in the store (every status).
int64_t storedAlerts(Store& store);

// Loads options.hosts hosts and options.alerts alerts, unless the store already holds at least
// that many alerts (a re-run reuses the data).
Result<SeedResult> seedStore(Store& store, Generator& gen, const SeedOptions& options);

}  // namespace vigil::manager::seed
