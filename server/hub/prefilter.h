// Hyperscan prefilter of the rule engine: the literals and regexes of every rule of one data_type,
// compiled once, tell per event which rules cannot match so that their matchers are never run.
// Exact semantics always come from the real matchers; the prefilter only skips rules it can prove
// false.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/hub/rule.h"

namespace vigil::hub {

class Event;

// Built for one data_type over the rules in `order` (indexes into `rules`, evaluation order).
// A selection is guarded when every alternative has a guard: a non-negated matcher whose
// literals (Matcher::literals()) can all be searched for. A rule is skippable when there is a
// set G of guarded selections such that its condition is false whatever the other selections
// are once every selection of G is false (checked by enumeration, so `not` and filters are
// handled; G is made small greedily); the rule is a candidate for an event as soon as one guard
// literal of G is found in its field. Immutable and shared by all threads; the
// Hyperscan scratch space and hit marks are per thread (thread_local).
class Prefilter {
public:
    // nullptr when no rule of `order` is skippable (nothing to gain).
    static std::shared_ptr<const Prefilter> build(const std::vector<Rule>& rules,
                                                  const std::vector<size_t>& order);
    ~Prefilter();
    Prefilter(const Prefilter&) = delete;
    Prefilter& operator=(const Prefilter&) = delete;

    // Returns one flag per position of `order`: non-zero when the rule must be evaluated. The
    // buffer is thread-local and valid until the next call on this thread.
    const uint8_t* candidates(const Event& event) const;
    // After candidates() on this thread: per position, the guarded selections (bit i =
    // selection i) whose guard literal was found. A guarded selection whose bit is clear is
    // false for this event; its matchers need not run.
    const uint64_t* selectionHits() const;
    // Per position: the selections (index < 64) that have guards.
    uint64_t guarded(size_t pos) const { return guarded_[pos]; }

    size_t skippable() const { return skippable_; }
    size_t patterns() const { return pattern_rules_.size(); }

private:
    struct FieldDb;
    Prefilter() = default;

    struct Entry {
        uint32_t pos;         // into order
        uint64_t selections;  // the rule's selections this pattern guards
        bool candidate;       // a hit makes the rule a candidate
    };
    std::vector<FieldDb> fields_;  // one Hyperscan database per field read by a guard
    // pattern id -> the rules (positions into order) and selections it guards.
    std::vector<std::vector<Entry>> pattern_rules_;
    std::vector<uint8_t> always_;    // per position: evaluated whatever the scan finds
    std::vector<uint64_t> guarded_;  // per position: selections with guards
    size_t skippable_ = 0;
    uint64_t serial_ = 0;            // identifies this prefilter for the thread-local scratch
    void* proto_scratch_ = nullptr;  // hs_scratch_t sized for every database, cloned per thread
};

}  // namespace vigil::hub
