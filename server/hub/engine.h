// The hub's evaluation of one record against the loaded rules (docs/hub.md). Rules are indexed
// by data_type; a rule's selections are evaluated lazily, as its condition needs them.
// Whitelist rules run first and drop the hits of the rules they apply to. Frequency rules keep
// per-group sliding windows in a FrequencyState owned by the caller (one per partition worker:
// the engine itself is immutable and shared by all threads).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/hub/prefilter.h"
#include "server/hub/rule.h"

namespace vigil::hub {

// One record as rules see it: its data_type and flat string fields, plus the bus message's
// agent fields (agent_id, hostname, ...), which rules may test like any other field.
class Event {
public:
    int32_t data_type = 0;
    int64_t time_ms = 0;  // event time used by frequency windows

    void set(std::string_view key, std::string_view value);
    // nullptr when absent.
    const std::string_view* get(std::string_view key) const;
    const std::vector<std::pair<std::string_view, std::string_view>>& fields() const {
        return fields_;
    }
    void clear() {
        fields_.clear();
        tags_.clear();
        std::fill(slots_.begin(), slots_.end(), uint16_t{0});
    }

private:
    // Length and first/last bytes of a key: get() compares bytes only where the tag agrees.
    static uint32_t tagOf(std::string_view key) {
        if (key.empty()) return 0;
        return static_cast<uint32_t>(key.size()) << 16 |
               static_cast<uint32_t>(static_cast<unsigned char>(key.front())) << 8 |
               static_cast<unsigned char>(key.back());
    }
    size_t find(std::string_view key, uint32_t tag) const;  // index into fields_, or npos
    void index(size_t i);                                   // adds fields_[i] to slots_

    // Views into storage the caller keeps alive for the evaluation (the decoded message).
    std::vector<std::pair<std::string_view, std::string_view>> fields_;
    std::vector<uint32_t> tags_;  // parallel to fields_
    // Open-addressing index over tags_: 1 + field index, 0 free; at most half full.
    std::vector<uint16_t> slots_;
};

// Fields the hub derives from a record before evaluation (absent ones only): `initiated`
// ("true" on connect 42, "false" on accept 43: Sigma's network_connection Initiated).
void addDerivedFields(Event& event);

struct FrequencyOptions {
    size_t max_groups = 100000;  // LRU cap over all frequency rules' groups; evictions counted
};

class FrequencyState {
public:
    explicit FrequencyState(FrequencyOptions options = {}) : options_(options) {}
    // Records a condition hit of `rule` for `event`; true when the rule fires now.
    bool hit(const Rule& rule, const Event& event);
    // `after` correlation: remembers that a rule fired at `time` for the group `key`, and asks
    // whether it did no more than `within_ms` before `now`. Same LRU cap, its own list.
    void remember(const std::string& key, int64_t time);
    bool firedWithin(const std::string& key, int64_t now, int64_t within_ms);
    uint64_t evictions() const { return evictions_; }
    size_t groups() const { return index_.size() + fired_index_.size(); }

private:
    struct Point {
        int64_t time;
        double number;     // sum rules
        std::string text;  // distinct rules
    };
    struct Group {
        std::deque<Point> points;  // within the window, oldest first
        double sum = 0;
        std::unordered_map<std::string, int> distinct;  // value -> occurrences in the window
    };
    using Entry = std::pair<std::string, Group>;
    FrequencyOptions options_;
    std::list<Entry> lru_;
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    std::list<std::pair<std::string, int64_t>> fired_lru_;
    std::unordered_map<std::string, std::list<std::pair<std::string, int64_t>>::iterator>
        fired_index_;
    uint64_t evictions_ = 0;
};

// The key of a rule's group: rule id, then the values of `fields` in `event`.
std::string groupKey(const std::string& rule_id, const std::vector<std::string>& fields,
                     const Event& event);

struct EngineOptions {
    // Skip rules that a Hyperscan scan of the event's fields proves false (prefilter.h). The
    // results are the same either way; false is for comparison and benchmarks.
    bool prefilter = true;
};

class Engine {
public:
    explicit Engine(std::vector<Rule> rules);
    Engine(std::vector<Rule> rules, EngineOptions options);

    // The rules that fire for `event` (whitelists applied). `freq` may be null when no rule
    // has a frequency (then frequency rules never fire).
    std::vector<const Rule*> evaluate(const Event& event, FrequencyState* freq) const;
    // The condition alone (no whitelist, no frequency): `vigil-hub test` and tests.
    bool matches(const Rule& rule, const Event& event) const;

    // Rules of `data_type` that the prefilter may skip (0 without a prefilter).
    size_t prefilteredRules(int32_t data_type) const;
    // Rules evaluated for `data_type` (all of them without a prefilter).
    size_t rulesFor(int32_t data_type) const {
        auto it = by_type_.find(data_type);
        return it == by_type_.end() ? 0 : it->second.size();
    }

    const std::vector<Rule>& rules() const { return rules_; }
    size_t ruleCount() const { return rules_.size(); }

private:
    // The condition with the selections of `known_false` (bit i = selection i) taken as false.
    bool matchesKnowing(const Rule& rule, const Event& event, uint64_t known_false) const;

    std::vector<Rule> rules_;
    // data_type -> indexes into rules_: whitelists first, then the others.
    std::unordered_map<int32_t, std::vector<size_t>> by_type_;
    // rule index -> indexes of the rules whose `after` names it.
    std::vector<std::vector<size_t>> followers_;
    // data_type -> prefilter over by_type_[data_type] (absent: evaluate every rule).
    std::unordered_map<int32_t, std::shared_ptr<const Prefilter>> prefilters_;
};

}  // namespace vigil::hub
