// Hyperscan prefilter: one block-mode database per field of a data_type (see prefilter.h).
#include "server/hub/prefilter.h"

#include <hs/hs.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
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

// RE2 works on UTF-8 code points and, case-insensitively, folds k to the Kelvin sign (U+212A)
// and s to the long s (U+017F) besides ASCII case; Hyperscan here works on bytes with ASCII
// case folding. A regex is used as a guard in a form whose byte matches include every RE2 match:
// an atom that can match one non-ASCII code point (an unescaped `.`, a negated class, \S \W \D)
// may match 1 to 4 bytes, `(?:ATOM{1,4})`; case-insensitively (nocase or a leading `(?i)`) k and
// s also match their non-ASCII folds, and so does any class. What cannot be rewritten that way
// (non-ASCII bytes in the pattern, other inline flags, \p, \C, \Q, \x escapes when
// case-insensitive, POSIX classes) gives nullopt: that rule is evaluated as usual. The result
// is compiled caseless when case-insensitive.
constexpr const char* kFoldK = "\\xE2\\x84\\xAA";  // KELVIN SIGN
constexpr const char* kFoldS = "\\xC5\\xBF";       // LATIN SMALL LETTER LONG S

std::optional<std::string> prefilterRegex(std::string re, bool& nocase) {
    if (re.rfind("(?i)", 0) == 0) {
        re.erase(0, 4);
        nocase = true;
    }
    const std::string any_fold = std::string("|") + kFoldK + "|" + kFoldS;
    std::string out;
    out.reserve(re.size() + 16);
    for (size_t i = 0; i < re.size();) {
        const unsigned char c = static_cast<unsigned char>(re[i]);
        if (c >= 0x80) return std::nullopt;
        if (c == '\\') {
            if (i + 1 >= re.size()) return std::nullopt;
            const char e = re[i + 1];
            if (static_cast<unsigned char>(e) >= 0x80) return std::nullopt;
            if (std::string_view("pPAzCXQEG").find(e) != std::string_view::npos ||
                (nocase && (e == 'x' || e == '0'))) {
                return std::nullopt;
            }
            if (e == 'S' || e == 'W' || e == 'D') {
                out += "(?:\\";
                out += e;
                out += "{1,4})";
            } else if (nocase && e == 'w') {
                out += "(?:\\w" + any_fold + ")";
            } else {
                out += '\\';
                out += e;
            }
            i += 2;
            continue;
        }
        if (c == '[') {
            size_t j = i + 1;
            const bool negated = j < re.size() && re[j] == '^';
            if (negated) ++j;
            if (j < re.size() && re[j] == ']') ++j;  // a leading ] is a member
            for (; j < re.size() && re[j] != ']'; ++j) {
                if (static_cast<unsigned char>(re[j]) >= 0x80) return std::nullopt;
                if (re[j] == '\\') {
                    if (j + 1 >= re.size()) return std::nullopt;
                    const char e = re[j + 1];
                    if (e == 'p' || e == 'P' || e == 'Q' || e == 'C' ||
                        (nocase && (e == 'x' || e == '0'))) {
                        return std::nullopt;
                    }
                    ++j;
                } else if (re[j] == '[' && j + 1 < re.size() && re[j + 1] == ':') {
                    return std::nullopt;  // [[:alpha:]] and friends: not worth the care
                }
            }
            if (j >= re.size()) return std::nullopt;
            const std::string cls = re.substr(i, j + 1 - i);
            // A negated class (or one holding \S \W \D) may match a whole non-ASCII code point;
            // case-insensitively any class may match a non-ASCII fold.
            const bool wide = negated || cls.find("\\S") != std::string::npos ||
                              cls.find("\\W") != std::string::npos ||
                              cls.find("\\D") != std::string::npos;
            if (wide) {
                out += "(?:" + cls + "{1,4})";
            } else if (nocase) {
                out += "(?:" + cls + any_fold + ")";
            } else {
                out += cls;
            }
            i = j + 1;
            continue;
        }
        if (c == '.') {
            out += "(?:[^\\n]{1,4})";
            ++i;
            continue;
        }
        if (c == '(' && i + 1 < re.size() && re[i + 1] == '?') {
            // Only non-capturing groups; flags, look-arounds and named groups are left to RE2.
            if (i + 2 >= re.size() || re[i + 2] != ':') return std::nullopt;
        }
        if (nocase && (c == 'k' || c == 'K')) {
            out += std::string("(?:k|") + kFoldK + ")";
        } else if (nocase && (c == 's' || c == 'S')) {
            out += std::string("(?:s|") + kFoldS + ")";
        } else {
            out += static_cast<char>(c);
        }
        ++i;
    }
    return out;
}

// Whether `cond` is false for every value of the selections in `free` when all other
// selections are false (enumerated: at most 2^12 combinations, else "no").
bool falseWhenGuardsFalse(const Condition& cond, size_t selections,
                          const std::vector<size_t>& free) {
    if (free.size() > 12) return false;
    std::vector<bool> values(selections, false);
    for (uint32_t mask = 0; mask < (1u << free.size()); ++mask) {
        for (size_t i = 0; i < free.size(); ++i) values[free[i]] = (mask >> i) & 1;
        if (cond.eval(values)) return false;
    }
    return true;
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
    std::vector<uint64_t> selections;  // per position: guarded selections with a guard found
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
    pf->guarded_.assign(order.size(), 0);
    // field -> pattern -> rule positions
    // field -> pattern -> rule position -> (selections it guards, makes the rule a candidate)
    std::map<std::string, std::map<PatternKey, std::map<uint32_t, std::pair<uint64_t, bool>>>>
        by_field;
    std::map<PatternKey, bool> regex_ok;
    for (size_t pos = 0; pos < order.size(); ++pos) {
        const Rule& rule = rules[order[pos]];
        if (!rule.condition) continue;
        // Guards per selection: every alternative needs one (field, literals), else the
        // selection cannot be proven false by a scan.
        using Guard = std::pair<const std::string*, std::vector<Matcher::Literal>>;
        std::map<size_t, std::vector<Guard>> guardable;
        for (size_t s : rule.condition->referenced()) {
            if (s >= rule.selections.size()) continue;  // never true
            std::vector<Guard> sel_guards;
            bool ok = true;
            for (const auto& alt : rule.selections[s].any) {
                std::optional<Guard> best;
                size_t best_len = 0;
                for (const auto& fm : alt.all) {
                    if (fm.matcher.negated() || !fm.other.empty() ||
                        !fm.matcher.otherField().empty())
                        continue;
                    auto lits = fm.matcher.literals();
                    if (lits.empty()) continue;
                    size_t min_len = SIZE_MAX;
                    bool usable = true;
                    for (auto& l : lits) {
                        if (l.text.empty()) usable = false;
                        if (l.is_regex) {
                            bool nocase = l.nocase;
                            auto rewritten = prefilterRegex(l.text, nocase);
                            if (!rewritten) {
                                usable = false;
                            } else {
                                l.text = std::move(*rewritten);
                                l.nocase = nocase;
                            }
                            min_len = std::min<size_t>(min_len, 1);
                        } else {
                            min_len = std::min(min_len, l.text.size());
                        }
                    }
                    if (!usable) continue;
                    if (!best || min_len > best_len) {
                        best = Guard{&fm.field, std::move(lits)};
                        best_len = min_len;
                    }
                }
                if (!best) {
                    ok = false;
                    break;
                }
                sel_guards.push_back(std::move(*best));
            }
            if (ok) guardable.emplace(s, std::move(sel_guards));
        }
        // The guarded selections G: the condition must be false whatever the other selections
        // are when every selection of G is false (checked over all their combinations, so `not`
        // and filters are fine). Greedily drop selections from G that are not needed for that,
        // so that a filter's literals do not make events candidates.
        std::vector<size_t> g, u;
        for (size_t s : rule.condition->referenced()) {
            if (s >= rule.selections.size()) continue;
            (guardable.count(s) ? g : u).push_back(s);
        }
        // Every guarded selection is registered: an event in which none of its guard literals
        // is found has it false, which the engine uses without running its matchers
        // (selectionHits); only the selections of G decide whether the rule is a candidate.
        auto registerGuards = [&](size_t sel, bool candidate) {
            if (sel >= 64) return;
            const uint64_t bit = uint64_t{1} << sel;
            pf->guarded_[pos] |= bit;
            for (const auto& [field, lits] : guardable[sel]) {
                for (const auto& l : lits) {
                    auto& e = by_field[*field][PatternKey{l.text, l.nocase, l.is_regex}]
                                      [static_cast<uint32_t>(pos)];
                    e.first |= bit;
                    e.second = e.second || candidate;
                }
            }
        };
        if (!falseWhenGuardsFalse(*rule.condition, rule.selections.size(), u)) {
            for (size_t sel : g) registerGuards(sel, false);
            continue;
        }
        // Selections with many guard literals are the likeliest to hit: tried for removal first.
        auto literalCount = [&](size_t sel) {
            size_t n = 0;
            for (const auto& gd : guardable[sel]) n += gd.second.size();
            return n;
        };
        std::stable_sort(g.begin(), g.end(),
                         [&](size_t a, size_t b) { return literalCount(a) > literalCount(b); });
        for (size_t i = 0; i < g.size();) {
            std::vector<size_t> more = u;
            more.push_back(g[i]);
            if (falseWhenGuardsFalse(*rule.condition, rule.selections.size(), more)) {
                u = std::move(more);
                g.erase(g.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        for (size_t sel : g) registerGuards(sel, true);
        for (size_t sel : u) {
            if (guardable.count(sel)) registerGuards(sel, false);
        }
        // A rule whose G came out empty can never match: it is never a candidate.
        pf->always_[pos] = 0;
    }
    // Regexes Hyperscan refuses (even in prefilter mode) guard nothing: their selections lose
    // their guard and the rules they made candidates are always evaluated.
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
                for (const auto& [p, e] : positions) {
                    pf->guarded_[p] &= ~e.first;
                    if (e.second) pf->always_[p] = 1;
                }
            } else {
                hs_free_database(db);
            }
        }
    }
    size_t skippable = 0, guarded = 0;
    for (uint8_t a : pf->always_) skippable += a == 0;
    for (uint64_t m : pf->guarded_) guarded += m != 0;
    pf->skippable_ = skippable;
    if (skippable == 0 && guarded == 0) return nullptr;

    uint32_t next_id = 0;
    hs_scratch_t* proto = nullptr;
    for (auto& [field, pats] : by_field) {
        std::vector<std::string> exprs;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
        FieldDb fdb{field, nullptr, next_id};
        for (auto& [key, positions] : pats) {
            std::vector<Entry> live;
            for (const auto& [p, e] : positions) {
                const uint64_t mask = e.first & pf->guarded_[p];
                const bool candidate = e.second && !pf->always_[p];
                if (mask || candidate) live.push_back(Entry{p, mask, candidate});
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
    st.selections.assign(guarded_.size(), 0);
    st.hits.clear();
    auto failOpen = [&] {
        std::fill(st.flags.begin(), st.flags.end(), 1);
        st.selections.assign(guarded_.begin(), guarded_.end());
        return st.flags.data();
    };
    hs_scratch_t* scratch = st.scratchFor(serial_, static_cast<hs_scratch_t*>(proto_scratch_));
    if (!scratch) return failOpen();
    for (const auto& f : fields_) {
        const std::string_view* value = event.get(f.field);
        if (!value || value->empty()) continue;
        std::pair<ThreadState*, uint32_t> ctx{&st, f.base};
        if (hs_scan(f.db, value->data(), static_cast<unsigned>(value->size()), 0, scratch, onMatch,
                    &ctx) != HS_SUCCESS) {
            // Cannot happen with a valid scratch; fail open.
            return failOpen();
        }
    }
    for (uint32_t id : st.hits) {
        for (const Entry& e : pattern_rules_[id]) {
            if (e.candidate) st.flags[e.pos] = 1;
            st.selections[e.pos] |= e.selections;
        }
    }
    return st.flags.data();
}

const uint64_t* Prefilter::selectionHits() const {
    return t_state.selections.data();
}

}  // namespace vigil::hub
