// Hyperscan prefilter: one block-mode database per field of a data_type (see prefilter.h).
#include "server/hub/prefilter.h"

#include <hs/hs.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "server/hub/engine.h"

namespace vigil::hub {

struct Prefilter::FieldDb {
    std::string field;
    hs_database_t* db = nullptr;
    uint32_t base = 0;  // pattern ids of this database are base + local id
};

namespace {

std::atomic<uint64_t> g_serial{1};

// Every byte as \xHH: the literal means exactly its bytes.
std::string escapeLiteral(const std::string& text) {
    std::string out;
    out.reserve(text.size() * 4);
    char buf[5];
    for (unsigned char c : text) {
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
    }
    return out;
}

// RE2 (UTF-8, Unicode case folding) and Hyperscan in byte mode agree on a regex's matches only
// when it cannot match a multi-byte character as one unit nor fold a non-ASCII letter; anything
// else is not used as a guard (the rule is then evaluated as usual).
bool regexUsable(const std::string& re, bool nocase) {
    for (unsigned char c : re) {
        if (c >= 0x80) return false;
        if (c == '.') return false;
        // RE2 folds k and s to the Kelvin sign and the long s; a class may hold either.
        if (nocase && (c == 'k' || c == 'K' || c == 's' || c == 'S' || c == '[')) return false;
    }
    if (nocase && re.find("\\w") != std::string::npos) return false;
    for (const char* bad : {"[^", "\\W", "\\S", "\\D", "\\B", "\\p", "\\P", "\\A", "\\z", "\\C",
                            "\\X", "(?s", "(?i", "(?m", "(?U", "\\Q"}) {
        if (re.find(bad) != std::string::npos) return false;
    }
    return true;
}

bool conditionHasNot(const Condition& cond) {
    const std::string text = cond.toString();
    std::string token;
    auto flush = [&] {
        const bool is_not = token == "not";
        token.clear();
        return is_not;
    };
    for (char c : text) {
        if (c == ' ' || c == '(' || c == ')') {
            if (flush()) return true;
        } else {
            token += c;
        }
    }
    return flush();
}

struct PatternKey {
    std::string text;
    bool nocase;
    bool is_regex;
    auto operator<=>(const PatternKey&) const = default;
};

// Scratch spaces of the prefilters this thread used recently (one per data_type of an engine).
constexpr size_t kScratchCache = 32;

struct ThreadState {
    std::vector<std::pair<uint64_t, hs_scratch_t*>> scratches;
    std::vector<uint8_t> flags;
    std::vector<uint32_t> hits;
    ~ThreadState() {
        for (auto& s : scratches) hs_free_scratch(s.second);
    }
    hs_scratch_t* scratchFor(uint64_t serial, hs_scratch_t* proto) {
        for (auto& s : scratches) {
            if (s.first == serial) return s.second;
        }
        if (scratches.size() >= kScratchCache) {
            hs_free_scratch(scratches.front().second);
            scratches.erase(scratches.begin());
        }
        hs_scratch_t* scratch = nullptr;
        if (hs_clone_scratch(proto, &scratch) != HS_SUCCESS) return nullptr;
        scratches.emplace_back(serial, scratch);
        return scratch;
    }
};

thread_local ThreadState t_state;

int onMatch(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    auto* st = static_cast<std::pair<ThreadState*, uint32_t>*>(ctx);
    st->first->hits.push_back(st->second + id);
    return 0;
}

}  // namespace

std::shared_ptr<const Prefilter> Prefilter::build(const std::vector<Rule>& rules,
                                                  const std::vector<size_t>& order) {
    std::shared_ptr<Prefilter> pf(new Prefilter());
    pf->always_.assign(order.size(), 1);
    // field -> pattern -> rule positions
    std::map<std::string, std::map<PatternKey, std::set<uint32_t>>> by_field;
    std::map<PatternKey, bool> regex_ok;
    for (size_t pos = 0; pos < order.size(); ++pos) {
        const Rule& rule = rules[order[pos]];
        if (!rule.condition || conditionHasNot(*rule.condition)) continue;
        if (rule.condition->eval(std::vector<bool>(rule.selections.size(), false))) continue;
        // Guards chosen for this rule: (field, literals).
        std::vector<std::pair<const std::string*, std::vector<Matcher::Literal>>> guards;
        bool ok = true;
        for (size_t s : rule.condition->referenced()) {
            if (s >= rule.selections.size()) continue;  // never true
            for (const auto& alt : rule.selections[s].any) {
                const std::pair<const std::string*, std::vector<Matcher::Literal>>* best = nullptr;
                size_t best_len = 0;
                std::pair<const std::string*, std::vector<Matcher::Literal>> chosen;
                for (const auto& fm : alt.all) {
                    if (fm.matcher.negated() || !fm.other.empty() ||
                        !fm.matcher.otherField().empty())
                        continue;
                    auto lits = fm.matcher.literals();
                    if (lits.empty()) continue;
                    size_t min_len = SIZE_MAX;
                    bool usable = true;
                    for (const auto& l : lits) {
                        if (l.text.empty()) usable = false;
                        if (l.is_regex) {
                            if (!regexUsable(l.text, l.nocase)) usable = false;
                            min_len = std::min<size_t>(min_len, 1);
                        } else {
                            min_len = std::min(min_len, l.text.size());
                        }
                    }
                    if (!usable) continue;
                    if ((!best || min_len > best_len)) {
                        chosen = {&fm.field, std::move(lits)};
                        best = &chosen;
                        best_len = min_len;
                    }
                }
                if (!best) {
                    ok = false;
                    break;
                }
                guards.push_back(std::move(chosen));
            }
            if (!ok) break;
        }
        if (!ok) continue;
        for (auto& [field, lits] : guards) {
            for (auto& l : lits) {
                by_field[*field][PatternKey{l.text, l.nocase, l.is_regex}].insert(
                    static_cast<uint32_t>(pos));
            }
        }
        pf->always_[pos] = 0;
        ++pf->skippable_;
    }
    // Regexes Hyperscan refuses (even in prefilter mode) make their rules always evaluated.
    for (auto& [field, pats] : by_field) {
        for (auto& [key, positions] : pats) {
            if (!key.is_regex) continue;
            hs_database_t* db = nullptr;
            hs_compile_error_t* err = nullptr;
            unsigned flags =
                HS_FLAG_PREFILTER | HS_FLAG_SINGLEMATCH | (key.nocase ? HS_FLAG_CASELESS : 0);
            if (hs_compile(key.text.c_str(), flags, HS_MODE_BLOCK, nullptr, &db, &err) !=
                HS_SUCCESS) {
                hs_free_compile_error(err);
                for (uint32_t p : positions) pf->always_[p] = 1;
            } else {
                hs_free_database(db);
            }
        }
    }
    size_t skippable = 0;
    for (uint8_t a : pf->always_) skippable += a == 0;
    pf->skippable_ = skippable;
    if (skippable == 0) return nullptr;

    uint32_t next_id = 0;
    hs_scratch_t* proto = nullptr;
    for (auto& [field, pats] : by_field) {
        std::vector<std::string> exprs;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
        FieldDb fdb{field, nullptr, next_id};
        for (auto& [key, positions] : pats) {
            std::vector<uint32_t> live;
            for (uint32_t p : positions) {
                if (!pf->always_[p]) live.push_back(p);
            }
            if (live.empty()) continue;
            exprs.push_back(key.is_regex ? key.text : escapeLiteral(key.text));
            flags.push_back(HS_FLAG_SINGLEMATCH | (key.nocase ? HS_FLAG_CASELESS : 0) |
                            (key.is_regex ? HS_FLAG_PREFILTER : 0));
            ids.push_back(next_id - fdb.base);
            pf->pattern_rules_.push_back(std::move(live));
            ++next_id;
        }
        if (exprs.empty()) continue;
        std::vector<const char*> cexprs;
        for (const auto& e : exprs) cexprs.push_back(e.c_str());
        hs_compile_error_t* err = nullptr;
        if (hs_compile_multi(cexprs.data(), flags.data(), ids.data(),
                             static_cast<unsigned>(cexprs.size()), HS_MODE_BLOCK, nullptr, &fdb.db,
                             &err) != HS_SUCCESS) {
            // Should not happen (every regex compiled alone); evaluate everything instead.
            hs_free_compile_error(err);
            for (auto& f : pf->fields_) hs_free_database(f.db);
            if (proto) hs_free_scratch(proto);
            return nullptr;
        }
        hs_alloc_scratch(fdb.db, &proto);
        pf->fields_.push_back(std::move(fdb));
    }
    pf->proto_scratch_ = proto;
    pf->serial_ = g_serial.fetch_add(1);
    return pf;
}

Prefilter::~Prefilter() {
    for (auto& f : fields_) hs_free_database(f.db);
    if (proto_scratch_) hs_free_scratch(static_cast<hs_scratch_t*>(proto_scratch_));
}

const uint8_t* Prefilter::candidates(const Event& event) const {
    ThreadState& st = t_state;
    st.flags.assign(always_.begin(), always_.end());
    st.hits.clear();
    hs_scratch_t* scratch = st.scratchFor(serial_, static_cast<hs_scratch_t*>(proto_scratch_));
    if (!scratch) {
        std::fill(st.flags.begin(), st.flags.end(), 1);
        return st.flags.data();
    }
    for (const auto& f : fields_) {
        const std::string_view* value = event.get(f.field);
        if (!value || value->empty()) continue;
        std::pair<ThreadState*, uint32_t> ctx{&st, f.base};
        if (hs_scan(f.db, value->data(), static_cast<unsigned>(value->size()), 0, scratch, onMatch,
                    &ctx) != HS_SUCCESS) {
            // Cannot happen with a valid scratch; fail open.
            std::fill(st.flags.begin(), st.flags.end(), 1);
            return st.flags.data();
        }
    }
    for (uint32_t id : st.hits) {
        for (uint32_t pos : pattern_rules_[id]) st.flags[pos] = 1;
    }
    return st.flags.data();
}

}  // namespace vigil::hub
