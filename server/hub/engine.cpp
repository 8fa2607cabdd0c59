#include "server/hub/engine.h"

#include <algorithm>
#include <charconv>

namespace vigil::hub {

namespace {

// Keys are short: a byte loop beats a call to memcmp once the tags agree.
bool sameKey(std::string_view a, std::string_view b) {
    if (a.size() > 64) return a == b;
    for (size_t i = 1; i + 1 < a.size(); ++i) {
        if (a[i] != b[i]) return false;
    }
    return true;
}

}  // namespace

size_t Event::find(std::string_view key, uint32_t tag) const {
    if (slots_.empty()) return std::string_view::npos;
    const size_t mask = slots_.size() - 1;
    for (size_t h = (tag * 0x9E3779B1u) >> 16 & mask;; h = (h + 1) & mask) {
        const uint16_t slot = slots_[h];
        if (slot == 0) return std::string_view::npos;
        const size_t i = slot - 1u;
        const std::string_view k = fields_[i].first;
        // Equal tags mean equal first and last bytes; lengths are compared in full.
        if (tags_[i] == tag && k.size() == key.size() && sameKey(k, key)) return i;
    }
}

void Event::index(size_t i) {
    const size_t mask = slots_.size() - 1;
    for (size_t h = (tags_[i] * 0x9E3779B1u) >> 16 & mask;; h = (h + 1) & mask) {
        if (slots_[h] == 0) {
            slots_[h] = static_cast<uint16_t>(i + 1);
            return;
        }
    }
}

void Event::set(std::string_view key, std::string_view value) {
    const uint32_t tag = tagOf(key);
    const size_t found = find(key, tag);
    if (found != std::string_view::npos) {
        fields_[found].second = value;
        return;
    }
    if (fields_.size() >= 0xFFFF) {  // beyond the index: never expected of a record
        for (auto& kv : fields_) {
            if (kv.first == key) {
                kv.second = value;
                return;
            }
        }
    }
    fields_.emplace_back(key, value);
    tags_.push_back(tag);
    if (fields_.size() >= 0xFFFF) return;
    if (fields_.size() * 2 > slots_.size()) {
        slots_.assign(std::max<size_t>(64, slots_.size() * 2), 0);
        for (size_t i = 0; i < fields_.size(); ++i) index(i);
    } else {
        index(fields_.size() - 1);
    }
}

const std::string_view* Event::get(std::string_view key) const {
    const size_t i = find(key, tagOf(key));
    if (i != std::string_view::npos) return &fields_[i].second;
    if (fields_.size() >= 0xFFFF) {
        for (const auto& kv : fields_) {
            if (kv.first == key) return &kv.second;
        }
    }
    return nullptr;
}

namespace {

bool alternativeMatches(const Alternative& alt, const Event& event) {
    for (const auto& fm : alt.all) {
        const std::string_view* value = event.get(fm.field);
        const std::string_view* other = fm.other.empty() ? nullptr : event.get(fm.other);
        if (!fm.matcher.match(value, other)) return false;
    }
    return true;
}

bool selectionMatches(const Selection& sel, const Event& event) {
    for (const auto& alt : sel.any) {
        if (alternativeMatches(alt, event)) return true;
    }
    return false;
}

double numberOf(const std::string_view* v) {
    if (!v) return 0;
    double d = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
    return ec == std::errc() ? d : 0;
}

}  // namespace

void addDerivedFields(Event& event) {
    if ((event.data_type == 42 || event.data_type == 43) && !event.get("initiated")) {
        event.set("initiated", event.data_type == 42 ? "true" : "false");  // static storage
    }
}

std::string groupKey(const std::string& rule_id, const std::vector<std::string>& fields,
                     const Event& event) {
    std::string key = rule_id;
    for (const auto& g : fields) {
        key += '\x1f';
        if (const std::string_view* v = event.get(g)) key.append(v->data(), v->size());
    }
    return key;
}

void FrequencyState::remember(const std::string& key, int64_t time) {
    auto it = fired_index_.find(key);
    if (it != fired_index_.end()) {
        it->second->second = std::max(it->second->second, time);
        fired_lru_.splice(fired_lru_.begin(), fired_lru_, it->second);
        return;
    }
    if (fired_index_.size() >= options_.max_groups && !fired_lru_.empty()) {
        fired_index_.erase(fired_lru_.back().first);
        fired_lru_.pop_back();
        ++evictions_;
    }
    fired_lru_.emplace_front(key, time);
    fired_index_.emplace(key, fired_lru_.begin());
}

bool FrequencyState::firedWithin(const std::string& key, int64_t now, int64_t within_ms) {
    auto it = fired_index_.find(key);
    if (it == fired_index_.end()) return false;
    const int64_t t = it->second->second;
    return t <= now && now - t <= within_ms;
}

bool FrequencyState::hit(const Rule& rule, const Event& event) {
    const Frequency& f = *rule.frequency;
    const std::string key = groupKey(rule.id, f.group_by, event);
    auto it = index_.find(key);
    if (it == index_.end()) {
        if (index_.size() >= options_.max_groups && !lru_.empty()) {
            index_.erase(lru_.back().first);
            lru_.pop_back();
            ++evictions_;
        }
        lru_.emplace_front(key, Group{});
        it = index_.emplace(key, lru_.begin()).first;
    } else {
        lru_.splice(lru_.begin(), lru_, it->second);
    }
    Group& g = it->second->second;
    const int64_t now = event.time_ms;
    // Slide the window.
    while (!g.points.empty() && g.points.front().time <= now - f.window_ms) {
        const Point& old = g.points.front();
        g.sum -= old.number;
        if (f.kind == Frequency::Kind::kDistinct) {
            auto d = g.distinct.find(old.text);
            if (d != g.distinct.end() && --d->second == 0) g.distinct.erase(d);
        }
        g.points.pop_front();
    }
    Point p{now, 1, {}};
    if (f.kind == Frequency::Kind::kSum) p.number = numberOf(event.get(f.field));
    if (f.kind == Frequency::Kind::kDistinct) {
        const std::string_view* v = event.get(f.field);
        p.text = v ? std::string(*v) : std::string();
        ++g.distinct[p.text];
    }
    g.sum += p.number;
    g.points.push_back(std::move(p));
    double measure = static_cast<double>(g.points.size());
    if (f.kind == Frequency::Kind::kSum) measure = g.sum;
    if (f.kind == Frequency::Kind::kDistinct) measure = static_cast<double>(g.distinct.size());
    if (measure < f.threshold) return false;
    if (f.reset_on_hit) {
        g.points.clear();
        g.distinct.clear();
        g.sum = 0;
    }
    return true;
}

Engine::Engine(std::vector<Rule> rules) : Engine(std::move(rules), EngineOptions{}) {}

Engine::Engine(std::vector<Rule> rules, EngineOptions options) : rules_(std::move(rules)) {
    for (size_t i = 0; i < rules_.size(); ++i) {
        if (!rules_[i].enabled) continue;  // disabled: loaded, never evaluated
        for (int32_t dt : rules_[i].data_types) by_type_[dt].push_back(i);
    }
    for (auto& [dt, list] : by_type_) {
        std::stable_partition(list.begin(), list.end(),
                              [this](size_t i) { return rules_[i].whitelist; });
    }
    followers_.resize(rules_.size());
    std::unordered_map<std::string, size_t> by_id;
    for (size_t i = 0; i < rules_.size(); ++i) by_id.emplace(rules_[i].id, i);
    for (size_t i = 0; i < rules_.size(); ++i) {
        if (!rules_[i].after) continue;
        // The loader drops a rule whose `after` names no rule; one built by hand never fires.
        if (auto it = by_id.find(rules_[i].after->rule); it != by_id.end())
            followers_[it->second].push_back(i);
    }
    if (options.prefilter) {
        for (const auto& [dt, list] : by_type_) {
            if (auto pf = Prefilter::build(rules_, list)) prefilters_.emplace(dt, std::move(pf));
        }
    }
}

bool Engine::matches(const Rule& rule, const Event& event) const {
    return matchesKnowing(rule, event, 0);
}

bool Engine::matchesKnowing(const Rule& rule, const Event& event, uint64_t known_false) const {
    if (!rule.condition) return false;
    return rule.condition->evalLazy([&](size_t i) {
        if (i < 64 && (known_false >> i) & 1) return false;
        return selectionMatches(rule.selections[i], event);
    });
}

size_t Engine::prefilteredRules(int32_t data_type) const {
    auto it = prefilters_.find(data_type);
    return it == prefilters_.end() ? 0 : it->second->skippable();
}

std::vector<const Rule*> Engine::evaluate(const Event& event, FrequencyState* freq) const {
    std::vector<const Rule*> hits;
    auto it = by_type_.find(event.data_type);
    if (it == by_type_.end()) return hits;
    const uint8_t* candidates = nullptr;
    const uint64_t* selection_hits = nullptr;
    const Prefilter* prefilter = nullptr;
    if (!prefilters_.empty()) {
        auto pf = prefilters_.find(event.data_type);
        if (pf != prefilters_.end()) {
            prefilter = pf->second.get();
            candidates = prefilter->candidates(event);
            selection_hits = prefilter->selectionHits();
        }
    }
    // Selections the scan proved false (their guard literals are absent) are not evaluated.
    auto knownFalse = [&](size_t pos) -> uint64_t {
        return prefilter ? prefilter->guarded(pos) & ~selection_hits[pos] : 0;
    };
    std::vector<const Rule*> whitelisted;
    bool all_whitelisted = false;
    const std::vector<size_t>& order = it->second;
    for (size_t pos = 0; pos < order.size(); ++pos) {
        if (candidates && !candidates[pos]) continue;
        const Rule& rule = rules_[order[pos]];
        if (rule.whitelist) {
            if (matchesKnowing(rule, event, knownFalse(pos))) {
                if (rule.applies_to.empty()) {
                    all_whitelisted = true;
                    break;
                }
                whitelisted.push_back(&rule);
            }
            continue;
        }
        if (!matchesKnowing(rule, event, knownFalse(pos))) continue;
        bool dropped = false;
        for (const Rule* w : whitelisted) {
            if (std::find(w->applies_to.begin(), w->applies_to.end(), rule.id) !=
                w->applies_to.end()) {
                dropped = true;
                break;
            }
        }
        if (dropped) continue;
        if (rule.after && !(freq && freq->firedWithin(groupKey(rule.id, rule.after->same, event),
                                                      event.time_ms, rule.after->within_ms)))
            continue;
        if (rule.frequency && !(freq && freq->hit(rule, event))) continue;
        hits.push_back(&rule);
        if (freq) {
            for (size_t f : followers_[order[pos]]) {
                const Rule& follower = rules_[f];
                freq->remember(groupKey(follower.id, follower.after->same, event), event.time_ms);
            }
        }
    }
    if (all_whitelisted) hits.clear();
    return hits;
}

}  // namespace vigil::hub
