// Registry: instance table, health by age, expiry and the merge rules of replication.
#include "server/discovery/registry.h"

#include <algorithm>
#include <climits>

namespace vigil::discovery {
namespace {

int64_t steadyNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int64_t unixNowS() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

bool healthy(Health h) {
    return h == Health::kGreen || h == Health::kBlue || h == Health::kYellow;
}

}  // namespace

const char* healthName(Health h) {
    switch (h) {
        case Health::kGreen:
            return "green";
        case Health::kBlue:
            return "blue";
        case Health::kYellow:
            return "yellow";
        case Health::kOrange:
            return "orange";
        case Health::kRed:
            return "red";
    }
    return "red";
}

Registry::Registry(RegistryOptions options)
    : options_(std::move(options)), rng_(std::random_device{}()) {
    if (!options_.steady_ms) options_.steady_ms = steadyNowMs;
    if (!options_.unix_s) options_.unix_s = unixNowS;
    if (options_.evict_after.count() <= 0) options_.evict_after = std::chrono::milliseconds(1);
    if (options_.max_detail == 0) options_.max_detail = 1;
}

Health Registry::healthForAge(int64_t age_ms) const {
    const int64_t e = options_.evict_after.count();
    const int64_t a = std::max<int64_t>(age_ms, 0) * 7;
    if (a <= 3 * e) return Health::kGreen;
    if (a <= 4 * e) return Health::kBlue;
    if (a <= 5 * e) return Health::kYellow;
    if (a <= 6 * e) return Health::kOrange;
    return Health::kRed;
}

std::optional<Change> Registry::registerInstance(Instance instance) {
    const int64_t now = options_.steady_ms();
    const int64_t now_unix = options_.unix_s();
    std::lock_guard lock(mu_);
    Key key{instance.name, instance.ip, instance.port};
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (entries_.size() >= options_.max_instances) return std::nullopt;
        instance.create_at = now_unix;
        it = entries_.emplace(key, Entry{}).first;
    } else {
        instance.create_at = it->second.instance.create_at;
    }
    instance.update_at = now_unix;
    it->second.instance = instance;
    it->second.last_seen_ms = now;
    evictions_.erase(key);
    return Change{ChangeAction::kRegister, std::move(instance), now};
}

Change Registry::evict(const std::string& name, const std::string& ip, int port, bool* existed) {
    const int64_t now = options_.steady_ms();
    std::lock_guard lock(mu_);
    Key key{name, ip, port};
    Change c;
    c.action = ChangeAction::kEvict;
    c.at_ms = now;
    auto it = entries_.find(key);
    if (existed) *existed = it != entries_.end();
    if (it != entries_.end()) {
        c.instance = it->second.instance;
        entries_.erase(it);
    } else {
        c.instance.name = name;
        c.instance.ip = ip;
        c.instance.port = port;
    }
    if (evictions_.size() < options_.max_instances || evictions_.count(key)) evictions_[key] = now;
    return c;
}

bool Registry::apply(ChangeAction action, const Instance& instance, int64_t age_ms) {
    const int64_t now = options_.steady_ms();
    const int64_t evict_after = options_.evict_after.count();
    age_ms = std::clamp<int64_t>(age_ms, 0, INT64_MAX / 4);
    const int64_t at = now - age_ms;
    Key key{instance.name, instance.ip, instance.port};
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (action == ChangeAction::kEvict) {
        bool changed = false;
        if (it != entries_.end() && it->second.last_seen_ms <= at) {
            entries_.erase(it);
            changed = true;
        }
        if (age_ms <= evict_after) {
            auto tomb = evictions_.find(key);
            if (tomb != evictions_.end())
                tomb->second = std::max(tomb->second, at);
            else if (evictions_.size() < options_.max_instances)
                evictions_.emplace(key, at);
        }
        return changed;
    }
    if (age_ms > evict_after) return false;  // already expired
    if (auto tomb = evictions_.find(key); tomb != evictions_.end()) {
        if (tomb->second >= at) return false;  // evicted after this registration
        evictions_.erase(tomb);
    }
    const int64_t update_at = options_.unix_s() - age_ms / 1000;
    if (it != entries_.end()) {
        if (it->second.last_seen_ms >= at) return false;  // we know something newer
        Instance merged = instance;
        merged.create_at =
            std::min(it->second.instance.create_at,
                     instance.create_at > 0 ? instance.create_at : it->second.instance.create_at);
        merged.update_at = update_at;
        it->second.instance = std::move(merged);
        it->second.last_seen_ms = at;
        return true;
    }
    if (entries_.size() >= options_.max_instances) return false;
    Entry e;
    e.instance = instance;
    if (e.instance.create_at <= 0 || e.instance.create_at > update_at)
        e.instance.create_at = update_at;
    e.instance.update_at = update_at;
    e.last_seen_ms = at;
    entries_.emplace(std::move(key), std::move(e));
    return true;
}

std::vector<Change> Registry::expire() {
    const int64_t now = options_.steady_ms();
    const int64_t evict_after = options_.evict_after.count();
    std::vector<Change> out;
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (now - it->second.last_seen_ms > evict_after) {
            // The tombstone is dated at the last registration: a registration any later (from a
            // peer that heard from the instance since) still counts.
            evictions_[it->first] = it->second.last_seen_ms;
            out.push_back(Change{ChangeAction::kEvict, std::move(it->second.instance),
                                 it->second.last_seen_ms});
            it = entries_.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = evictions_.begin(); it != evictions_.end();) {
        if (now - it->second > evict_after)
            it = evictions_.erase(it);
        else
            ++it;
    }
    return out;
}

std::vector<Change> Registry::snapshot() const {
    std::vector<Change> out;
    std::lock_guard lock(mu_);
    out.reserve(entries_.size() + evictions_.size());
    for (const auto& [key, e] : entries_)
        out.push_back(Change{ChangeAction::kRegister, e.instance, e.last_seen_ms});
    for (const auto& [key, at] : evictions_) {
        Change c;
        c.action = ChangeAction::kEvict;
        c.instance.name = std::get<0>(key);
        c.instance.ip = std::get<1>(key);
        c.instance.port = std::get<2>(key);
        c.at_ms = at;
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<DetailEntry> Registry::detail(const std::string& name, size_t count) const {
    const int64_t now = options_.steady_ms();
    const int64_t evict_after = options_.evict_after.count();
    if (count == 0 || count > options_.max_detail) count = options_.max_detail;
    std::vector<DetailEntry> out;
    std::lock_guard lock(mu_);
    for (auto it = entries_.lower_bound(Key{name, std::string(), INT_MIN});
         it != entries_.end() && std::get<0>(it->first) == name; ++it) {
        const int64_t age = now - it->second.last_seen_ms;
        if (age > evict_after) continue;  // expired, not yet swept
        out.push_back(DetailEntry{it->second.instance, healthForAge(age)});
    }
    // Random order first, then a stable sort: instances of equal load come out in random order,
    // so clients asking at the same moment spread over them.
    std::shuffle(out.begin(), out.end(), rng_);
    std::stable_sort(out.begin(), out.end(), [](const DetailEntry& a, const DetailEntry& b) {
        const bool ha = healthy(a.health), hb = healthy(b.health);
        if (ha != hb) return ha;
        return a.instance.weight < b.instance.weight;
    });
    if (out.size() > count) out.resize(count);
    return out;
}

std::vector<NameCount> Registry::list() const {
    const int64_t now = options_.steady_ms();
    std::vector<NameCount> out;
    std::lock_guard lock(mu_);
    for (const auto& [key, e] : entries_) {
        const int64_t age = now - e.last_seen_ms;
        if (age > options_.evict_after.count()) continue;
        if (out.empty() || out.back().name != std::get<0>(key))
            out.push_back(NameCount{std::get<0>(key), 0, 0});
        ++out.back().count;
        if (healthy(healthForAge(age))) ++out.back().healthy;
    }
    return out;
}

size_t Registry::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

}  // namespace vigil::discovery
