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

    size_t skippable() const { return skippable_; }
    size_t patterns() const { return pattern_rules_.size(); }

private:
    struct FieldDb;
    Prefilter() = default;

    std::vector<FieldDb> fields_;  // one Hyperscan database per field read by a guard
    // pattern id -> positions (into order) of the rules it makes candidates.
    std::vector<std::vector<uint32_t>> pattern_rules_;
    std::vector<uint8_t> always_;  // per position: evaluated whatever the scan finds
    size_t skippable_ = 0;
    uint64_t serial_ = 0;            // identifies this prefilter for the thread-local scratch
    void* proto_scratch_ = nullptr;  // hs_scratch_t sized for every database, cloned per thread
};

}  // namespace vigil::hub
