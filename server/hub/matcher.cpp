// Field matchers: compile time expands the Sigma modifiers and reduces every pattern to the
// simplest test (equals/contains/starts/ends/glob); match time never allocates.
#include "server/hub/matcher.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

namespace vigil::hub {

using detail::kGlobChar;
using detail::kGlobOne;
using detail::kGlobRun;
using detail::Network;
using detail::Number;
using detail::Shape;
using detail::StringPattern;

namespace {

// From this many exact any-of values on, equals uses the hash set instead of a scan.
constexpr size_t kEqualsSetThreshold = 8;
// windash yields 5^n variants for n option dashes in one value: 4 dashes at most.
constexpr size_t kMaxWindashVariants = 625;

inline char lower(char c) {
    return static_cast<unsigned>(static_cast<unsigned char>(c) - 'A') < 26u
               ? static_cast<char>(c | 0x20)
               : c;
}

bool foldedEqual(const char* a, const char* b, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool equalsText(std::string_view v, std::string_view p, bool nocase) {
    if (v.size() != p.size()) return false;
    return nocase ? foldedEqual(v.data(), p.data(), p.size()) : v == p;
}

bool startsText(std::string_view v, std::string_view p, bool nocase) {
    if (v.size() < p.size()) return false;
    return nocase ? foldedEqual(v.data(), p.data(), p.size()) : v.starts_with(p);
}

bool endsText(std::string_view v, std::string_view p, bool nocase) {
    if (v.size() < p.size()) return false;
    return nocase ? foldedEqual(v.data() + v.size() - p.size(), p.data(), p.size())
                  : v.ends_with(p);
}

// The first position at or after `from` where p occurs in v, or npos.
size_t findText(std::string_view v, std::string_view p, bool nocase, size_t from = 0) {
    if (!nocase) return v.find(p, from);
    if (from > v.size() || v.size() - from < p.size()) return std::string_view::npos;
    if (p.empty()) return from;
    const size_t last = v.size() - p.size();
    // Anchor on a byte of p that case folding leaves alone (a digit, '/', '-', ' ', ...), found
    // with memchr; with letters only, on p's first letter in either case.
    size_t k = 0;
    for (; k < p.size(); ++k) {
        const auto c = static_cast<unsigned char>(p[k]);
        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) break;
    }
    const char* base = v.data();
    if (k < p.size()) {
        const char anchor = p[k];
        for (size_t i = from; i <= last;) {
            const void* hit = std::memchr(base + i + k, anchor, last - i + 1);
            if (!hit) return std::string_view::npos;
            const size_t start = static_cast<size_t>(static_cast<const char*>(hit) - base) - k;
            if (foldedEqual(base + start, p.data(), p.size())) return start;
            i = start + 1;
        }
        return std::string_view::npos;
    }
    // Each case's next occurrence is kept until passed, so every byte is scanned at most twice.
    const char lo = lower(p[0]);
    const char up = static_cast<char>(lo & ~0x20);
    const char* end = base + last + 1;  // candidate starts are below end
    const char* next_lo = base + from;
    const char* next_up = base + from;
    bool lo_done = false, up_done = false;
    for (const char* at = base + from; at < end;) {
        if (!lo_done && next_lo < at) next_lo = at;
        if (!up_done && next_up < at) next_up = at;
        if (!lo_done && (next_lo == at || *next_lo != lo)) {
            next_lo = static_cast<const char*>(std::memchr(next_lo, lo, end - next_lo));
            lo_done = next_lo == nullptr;
        }
        if (!up_done && (next_up == at || *next_up != up)) {
            next_up = static_cast<const char*>(std::memchr(next_up, up, end - next_up));
            up_done = next_up == nullptr;
        }
        if (lo_done && up_done) return std::string_view::npos;
        const char* hit = lo_done ? next_up : up_done ? next_lo : std::min(next_lo, next_up);
        if (foldedEqual(hit + 1, p.data() + 1, p.size() - 1)) {
            return static_cast<size_t>(hit - base);
        }
        at = hit + 1;
    }
    return std::string_view::npos;
}

bool containsText(std::string_view v, std::string_view p, bool nocase) {
    return findText(v, p, nocase) != std::string_view::npos;
}

// Literal runs separated by '*': the leftmost occurrence of each run is never worse than a later
// one, so one forward pass decides (no backtracking); an anchored first or last run is checked
// in place.
bool segmentsMatch(std::string_view s, const StringPattern& p) {
    auto run = [&p](size_t i) {
        return std::string_view(p.text).substr(p.segments[i].first, p.segments[i].second);
    };
    size_t first = 0;
    size_t last = p.segments.size();
    size_t pos = 0;
    size_t end = s.size();
    if (p.glob.front() != kGlobRun) {
        if (!startsText(s, run(0), p.nocase)) return false;
        pos = run(0).size();
        first = 1;
    }
    if (p.glob.back() != kGlobRun) {
        const std::string_view tail = run(last - 1);
        if (end - pos < tail.size() || !endsText(s, tail, p.nocase)) return false;
        end -= tail.size();
        --last;
    }
    const std::string_view middle = s.substr(0, end);
    for (size_t i = first; i < last; ++i) {
        const size_t at = findText(middle, run(i), p.nocase, pos);
        if (at == std::string_view::npos) return false;
        pos = at + run(i).size();
    }
    return true;
}

// Bytes in the UTF-8 sequence that starts with c (1 for a stray continuation or invalid byte),
// so that '?' and the extent of '*' step over whole characters.
inline size_t utf8Length(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) return 1;
    if ((u >> 5) == 0x6) return 2;
    if ((u >> 4) == 0xe) return 3;
    if ((u >> 3) == 0x1e) return 4;
    return 1;
}

// Iterative wildcard match that backtracks to the last '*' only: O(len(value) * len(pattern)) at
// worst, no recursion, no allocation.
bool globMatch(std::string_view s, const StringPattern& p) {
    const std::string& t = p.text;
    const std::string& k = p.glob;
    const size_t n = s.size();
    const size_t m = t.size();
    size_t si = 0, pi = 0, star = std::string::npos, mark = 0;
    while (si < n) {
        if (pi < m && k[pi] == kGlobOne) {
            si += std::min(utf8Length(s[si]), n - si);
            ++pi;
            continue;
        }
        if (pi < m && k[pi] == kGlobRun) {
            star = pi++;
            mark = si;
            continue;
        }
        if (pi < m && (p.nocase ? lower(s[si]) == t[pi] : s[si] == t[pi])) {
            ++si;
            ++pi;
            continue;
        }
        if (star == std::string::npos) return false;
        mark += std::min(utf8Length(s[mark]), n - mark);
        si = mark;
        pi = star + 1;
    }
    while (pi < m && k[pi] == kGlobRun) ++pi;
    return pi == m;
}

bool matchPattern(const StringPattern& p, std::string_view v) {
    switch (p.shape) {
        case Shape::kEquals:
            return equalsText(v, p.text, p.nocase);
        case Shape::kContains:
            return containsText(v, p.text, p.nocase);
        case Shape::kStartsWith:
            return startsText(v, p.text, p.nocase);
        case Shape::kEndsWith:
            return endsText(v, p.text, p.nocase);
        case Shape::kSegments:
            return segmentsMatch(v, p);
        case Shape::kGlob:
            return globMatch(v, p);
        case Shape::kAnything:
            return true;
    }
    return false;
}

bool isStringOp(Op op) {
    return op == Op::kEquals || op == Op::kContains || op == Op::kStartsWith || op == Op::kEndsWith;
}

bool isNumericOp(Op op) {
    return op == Op::kLess || op == Op::kLessEq || op == Op::kGreater || op == Op::kGreaterEq;
}

// ---- Sigma value transformation: a value becomes a sequence of (byte, kind) pairs. ----

struct Sequence {
    std::string text;
    std::string kinds;  // kGlobChar / kGlobOne / kGlobRun per byte of text

    void push(char c, char kind) {
        text.push_back(c);
        kinds.push_back(kind);
    }
    void append(std::string_view s) {
        text.append(s);
        kinds.append(s.size(), kGlobChar);
    }
    bool literal() const {
        return std::all_of(kinds.begin(), kinds.end(), [](char k) { return k == kGlobChar; });
    }
};

Sequence parseValue(std::string_view v, bool wildcards) {
    Sequence out;
    out.text.reserve(v.size());
    out.kinds.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        const char c = v[i];
        if (!wildcards) {
            out.push(c, kGlobChar);
        } else if (c == '*') {
            out.push(c, kGlobRun);
        } else if (c == '?') {
            out.push(c, kGlobOne);
        } else if (c == '\\' && i + 1 < v.size() &&
                   (v[i + 1] == '*' || v[i + 1] == '?' || v[i + 1] == '\\')) {
            out.push(v[++i], kGlobChar);
        } else {
            out.push(c, kGlobChar);  // a backslash before anything else is literal (C:\Windows)
        }
    }
    return out;
}

// Python's \w for the ASCII range; other bytes belong to non-ASCII letters in practice.
bool isWordByte(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || u == '_' || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') ||
           (u >= 'A' && u <= 'Z');
}

// pySigma's windash: every '-' or '/' matching \B[-/]\b (an option's dash: not after a word
// character, before one) takes each of the five dash forms.
Result<std::vector<Sequence>> expandWindash(const Sequence& s, std::string_view original) {
    static constexpr std::string_view kDashes[] = {"-", "/", "\xE2\x80\x93", "\xE2\x80\x94",
                                                   "\xE2\x80\x95"};
    constexpr size_t kForms = std::size(kDashes);
    auto word_at = [&](size_t i) { return s.kinds[i] == kGlobChar && isWordByte(s.text[i]); };
    std::vector<size_t> dashes;
    for (size_t i = 0; i < s.text.size(); ++i) {
        if (s.kinds[i] != kGlobChar || (s.text[i] != '-' && s.text[i] != '/')) continue;
        if (i > 0 && word_at(i - 1)) continue;
        if (i + 1 >= s.text.size() || !word_at(i + 1)) continue;
        dashes.push_back(i);
    }
    size_t variants = 1;
    for (size_t d = 0; d < dashes.size(); ++d) {
        variants *= kForms;
        if (variants > kMaxWindashVariants) {
            return makeError(
                "windash: value '{}' has {} option dashes, giving more than {} variants; split it",
                original, dashes.size(), kMaxWindashVariants);
        }
    }
    std::vector<Sequence> out;
    out.reserve(variants);
    for (size_t v = 0; v < variants; ++v) {
        Sequence seq;
        size_t digits = v;
        size_t next = 0;
        for (size_t i = 0; i < s.text.size(); ++i) {
            if (next < dashes.size() && dashes[next] == i) {
                seq.append(kDashes[digits % kForms]);
                digits /= kForms;
                ++next;
            } else {
                seq.push(s.text[i], s.kinds[i]);
            }
        }
        out.push_back(std::move(seq));
    }
    return out;
}

std::string base64Encode(std::string_view in) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const uint32_t n = (static_cast<uint8_t>(in[i]) << 16) |
                           (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
        out.push_back(kAlphabet[(n >> 18) & 63]);
        out.push_back(kAlphabet[(n >> 12) & 63]);
        out.push_back(kAlphabet[(n >> 6) & 63]);
        out.push_back(kAlphabet[n & 63]);
    }
    const size_t rest = in.size() - i;
    if (rest > 0) {
        uint32_t n = static_cast<uint8_t>(in[i]) << 16;
        if (rest == 2) n |= static_cast<uint8_t>(in[i + 1]) << 8;
        out.push_back(kAlphabet[(n >> 18) & 63]);
        out.push_back(kAlphabet[(n >> 12) & 63]);
        out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

// pySigma's base64offset: the value preceded by 0, 1 or 2 bytes, encoded, with the characters
// that depend on the unknown neighbouring bytes cut off at both ends.
std::vector<std::string> base64Offsets(std::string_view v) {
    static constexpr size_t kStart[] = {0, 2, 3};
    static constexpr size_t kEndCut[] = {0, 3, 2};
    std::vector<std::string> out;
    for (size_t i = 0; i < 3; ++i) {
        std::string padded(i, ' ');
        padded.append(v);
        const std::string enc = base64Encode(padded);
        const size_t cut = kEndCut[(v.size() + i) % 3];
        if (enc.size() < kStart[i] + cut) continue;
        out.push_back(enc.substr(kStart[i], enc.size() - kStart[i] - cut));
    }
    return out;
}

// Wraps the sequence as the operator asks (Sigma's contains = *v*) and reduces it to the simplest
// shape: wildcards only at the ends become contains/starts/ends.
StringPattern shapePattern(Op op, const Sequence& value, bool nocase) {
    Sequence s;
    auto push_kind = [&s](char c, char kind) {
        if (kind == kGlobRun && !s.kinds.empty() && s.kinds.back() == kGlobRun) return;
        s.push(c, kind);
    };
    if (op == Op::kContains || op == Op::kEndsWith) push_kind('*', kGlobRun);
    for (size_t i = 0; i < value.text.size(); ++i) push_kind(value.text[i], value.kinds[i]);
    if (op == Op::kContains || op == Op::kStartsWith) push_kind('*', kGlobRun);

    StringPattern p;
    p.nocase = nocase;
    if (s.kinds.size() == 1 && s.kinds[0] == kGlobRun) {
        p.shape = Shape::kAnything;
        return p;
    }
    const bool lead = !s.kinds.empty() && s.kinds.front() == kGlobRun;
    const bool trail = !s.kinds.empty() && s.kinds.back() == kGlobRun;
    const size_t inner_begin = lead ? 1 : 0;
    const size_t inner_end = s.kinds.size() - (trail ? 1 : 0);
    bool inner_literal = true;
    for (size_t i = inner_begin; i < inner_end; ++i) inner_literal &= s.kinds[i] == kGlobChar;
    if (inner_literal) {
        p.text = s.text.substr(inner_begin, inner_end - inner_begin);
        p.shape = lead && trail ? Shape::kContains
                  : lead        ? Shape::kEndsWith
                  : trail       ? Shape::kStartsWith
                                : Shape::kEquals;
    } else {
        p.shape = Shape::kGlob;
        p.text = std::move(s.text);
        p.glob = std::move(s.kinds);
        if (p.glob.find(kGlobOne) == std::string::npos) {
            p.shape = Shape::kSegments;
            size_t start = 0;
            for (size_t i = 0; i <= p.glob.size(); ++i) {
                if (i < p.glob.size() && p.glob[i] == kGlobChar) continue;
                if (i > start) p.segments.emplace_back(start, i - start);
                start = i + 1;
            }
        }
    }
    if (nocase) {
        for (size_t i = 0; i < p.text.size(); ++i) {
            if (p.glob.empty() || p.glob[i] == kGlobChar) p.text[i] = lower(p.text[i]);
        }
    }
    return p;
}

// ---- Numbers ----

std::optional<Number> parseNumber(std::string_view s) {
    if (s.empty()) return std::nullopt;
    const char* b = s.data();
    const char* e = b + s.size();
    Number n;
    int64_t i = 0;
    if (auto r = std::from_chars(b, e, i); r.ec == std::errc() && r.ptr == e) {
        n.is_int = true;
        n.i = i;
        return n;
    }
    uint64_t u = 0;
    if (auto r = std::from_chars(b, e, u); r.ec == std::errc() && r.ptr == e) {
        n.is_int = true;
        n.i = u;
        return n;
    }
    double d = 0;
    if (auto r = std::from_chars(b, e, d); r.ec == std::errc() && r.ptr == e && std::isfinite(d)) {
        n.d = d;
        return n;
    }
    return std::nullopt;
}

int compareNumbers(const Number& a, const Number& b) {
    if (a.is_int && b.is_int) return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
    const double x = a.is_int ? static_cast<double>(a.i) : a.d;
    const double y = b.is_int ? static_cast<double>(b.i) : b.d;
    return x < y ? -1 : (x > y ? 1 : 0);
}

bool numericHolds(Op op, int cmp) {
    switch (op) {
        case Op::kLess:
            return cmp < 0;
        case Op::kLessEq:
            return cmp <= 0;
        case Op::kGreater:
            return cmp > 0;
        case Op::kGreaterEq:
            return cmp >= 0;
        default:
            return false;
    }
}

// ---- Addresses ----

// IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4 so that one network covers both spellings.
bool isV4Mapped(const Network& a) {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return a.family == 6 && std::memcmp(a.addr.data(), kPrefix, sizeof kPrefix) == 0;
}

void unmapV4(Network& a) {
    std::memmove(a.addr.data(), a.addr.data() + 12, 4);
    std::fill(a.addr.begin() + 4, a.addr.end(), 0);
    a.family = 4;
}

// Parses an address without allocating; a "%zone" suffix is ignored.
bool parseAddress(std::string_view s, Network& out) {
    if (const size_t zone = s.find('%'); zone != std::string_view::npos) s = s.substr(0, zone);
    char buf[INET6_ADDRSTRLEN + 1];
    if (s.empty() || s.size() >= sizeof buf) return false;
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    if (inet_pton(AF_INET, buf, out.addr.data()) == 1) {
        out.family = 4;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out.addr.data()) == 1) {
        out.family = 6;
        return true;
    }
    return false;
}

std::optional<Network> parseNetwork(std::string_view s) {
    const size_t slash = s.find('/');
    Network net;
    if (!parseAddress(s.substr(0, slash), net)) return std::nullopt;
    const unsigned max_prefix = net.family == 4 ? 32 : 128;
    unsigned prefix = max_prefix;
    if (slash != std::string_view::npos) {
        const std::string_view digits = s.substr(slash + 1);
        const char* e = digits.data() + digits.size();
        auto r = std::from_chars(digits.data(), e, prefix);
        if (digits.empty() || r.ec != std::errc() || r.ptr != e || prefix > max_prefix) {
            return std::nullopt;
        }
    }
    if (isV4Mapped(net) && prefix >= 96) {
        unmapV4(net);
        prefix -= 96;
    }
    net.prefix = static_cast<uint8_t>(prefix);
    const size_t bytes = net.family == 4 ? 4 : 16;
    for (size_t i = 0; i < bytes; ++i) {
        const unsigned keep = prefix >= (i + 1) * 8 ? 8 : (prefix > i * 8 ? prefix - i * 8 : 0);
        net.addr[i] &= static_cast<uint8_t>(0xff00u >> keep);
    }
    return net;
}

bool inNetwork(const Network& net, const Network& addr) {
    if (net.family != addr.family) return false;
    const size_t full = net.prefix / 8;
    if (std::memcmp(net.addr.data(), addr.addr.data(), full) != 0) return false;
    const unsigned rest = net.prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<uint8_t>(0xff00u >> rest);
    return (addr.addr[full] & mask) == net.addr[full];
}

}  // namespace

namespace detail {

size_t FoldedHash::operator()(std::string_view s) const {
    if (!nocase) return std::hash<std::string_view>{}(s);
    uint64_t h = 14695981039346656037ull;  // FNV-1a over the folded bytes: no lowered copy
    for (char c : s) {
        h ^= static_cast<unsigned char>(lower(c));
        h *= 1099511628211ull;
    }
    return static_cast<size_t>(h);
}

bool FoldedEq::operator()(std::string_view a, std::string_view b) const {
    return equalsText(a, b, nocase);
}

}  // namespace detail

std::string_view opName(Op op) {
    static constexpr std::string_view kNames[] = {
        "equals",     "contains", "starts_with",   "ends_with", "regex",    "less",
        "less_equal", "greater",  "greater_equal", "is_null",   "not_null", "cidr"};
    static_assert(std::size(kNames) == static_cast<size_t>(Op::kCidr) + 1);
    const auto i = static_cast<size_t>(op);
    return i < std::size(kNames) ? kNames[i] : "unknown";
}

Result<Matcher> Matcher::compile(const MatchSpec& spec) {
    Matcher m;
    m.op_ = spec.op;
    m.negate_ = spec.negate;
    m.nocase_ = spec.nocase;
    m.match_all_ = spec.match_all;
    m.other_field_ = spec.other_field;
    const std::string_view name = opName(spec.op);
    const bool transforms = spec.base64 || spec.base64offset || spec.windash;

    if (spec.base64 && spec.base64offset) {
        return makeError("{}: base64 and base64offset exclude each other; use one", name);
    }
    if (transforms && !isStringOp(spec.op)) {
        return makeError(
            "{}: the base64, base64offset and windash modifiers apply to equals, "
            "contains, starts_with and ends_with only",
            name);
    }
    if (spec.base64offset && spec.op != Op::kContains) {
        return makeError("{}: base64offset yields fragments of encoded text and needs contains",
                         name);
    }
    if (spec.op == Op::kIsNull || spec.op == Op::kNotNull) {
        if (!spec.values.empty() || !spec.other_field.empty()) {
            return makeError("{} takes no value and no other field", name);
        }
        return m;
    }
    if (!spec.other_field.empty()) {
        if (spec.op == Op::kRegex || spec.op == Op::kCidr) {
            return makeError(
                "{} cannot compare with another field ('{}'); only equals, contains, "
                "starts_with, ends_with and numeric comparisons can",
                name, spec.other_field);
        }
        if (!spec.values.empty()) {
            return makeError("{}: give either values or another field ('{}'), not both", name,
                             spec.other_field);
        }
        if (transforms || spec.match_all) {
            return makeError(
                "{}: modifiers (all, base64, base64offset, windash) do not apply to "
                "a comparison with another field ('{}')",
                name, spec.other_field);
        }
        return m;
    }
    if (spec.values.empty()) return makeError("{} needs at least one value", name);

    Status status = okStatus();
    if (isStringOp(spec.op)) {
        status = m.compileStrings(spec);
    } else if (spec.op == Op::kRegex) {
        status = m.compileRegexes(spec);
    } else if (isNumericOp(spec.op)) {
        status = m.compileNumbers(spec);
    } else {
        status = m.compileNetworks(spec);
    }
    if (!status.ok()) return status.error();
    return m;
}

Status Matcher::compileStrings(const MatchSpec& spec) {
    for (const std::string& value : spec.values) {
        Sequence parsed = parseValue(value, spec.sigma_wildcards);
        std::vector<Sequence> variants;
        if (spec.windash) {
            auto expanded = expandWindash(parsed, value);
            if (!expanded.ok()) return expanded.error();
            variants = std::move(*expanded);
        } else {
            variants.push_back(std::move(parsed));
        }
        const bool encoded = spec.base64 || spec.base64offset;
        if (encoded) {
            std::vector<Sequence> plain;
            for (const Sequence& v : variants) {
                if (!v.literal()) {
                    return makeError(
                        "{}: cannot base64-encode '{}': it has wildcards (escape "
                        "them as \\* and \\?)",
                        opName(spec.op), value);
                }
                std::vector<std::string> texts =
                    spec.base64 ? std::vector{base64Encode(v.text)} : base64Offsets(v.text);
                for (const std::string& t : texts) {
                    if (t.empty() && spec.base64offset) {
                        return makeError(
                            "{}: '{}' is too short for base64offset (an empty fragment would "
                            "match everything); give at least 2 bytes",
                            opName(spec.op), value);
                    }
                    Sequence s;
                    s.append(t);
                    plain.push_back(std::move(s));
                }
            }
            variants = std::move(plain);
        }
        for (const Sequence& v : variants) {
            patterns_.push_back(shapePattern(spec.op, v, spec.nocase && !encoded));
        }
        group_ends_.push_back(static_cast<uint32_t>(patterns_.size()));
    }

    if (spec.match_all) return okStatus();
    auto exact = [&](const StringPattern& p) {
        return p.shape == Shape::kEquals && p.nocase == spec.nocase;
    };
    if (static_cast<size_t>(std::count_if(patterns_.begin(), patterns_.end(), exact)) <
        kEqualsSetThreshold) {
        return okStatus();
    }
    equals_set_ = decltype(equals_set_)(patterns_.size(), detail::FoldedHash{spec.nocase},
                                        detail::FoldedEq{spec.nocase});
    std::vector<StringPattern> rest;
    for (StringPattern& p : patterns_) {
        if (exact(p)) {
            equals_set_lengths_ |= uint64_t{1} << std::min<size_t>(p.text.size(), 63);
            equals_set_.insert(std::move(p.text));
        } else {
            rest.push_back(std::move(p));
        }
    }
    patterns_ = std::move(rest);
    group_ends_.clear();
    return okStatus();
}

Status Matcher::compileRegexes(const MatchSpec& spec) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_case_sensitive(!spec.nocase);
    options.set_never_capture(true);
    for (const std::string& value : spec.values) {
        auto re = std::make_shared<const RE2>(value, options);
        if (!re->ok()) return makeError("regex '{}' does not compile: {}", value, re->error());
        regexes_.push_back(std::move(re));
    }
    return okStatus();
}

Status Matcher::compileNumbers(const MatchSpec& spec) {
    for (const std::string& value : spec.values) {
        auto n = parseNumber(value);
        if (!n) {
            return makeError("{}: '{}' is not a number (decimal integer or finite float)",
                             opName(spec.op), value);
        }
        numbers_.push_back(*n);
    }
    return okStatus();
}

Status Matcher::compileNetworks(const MatchSpec& spec) {
    for (const std::string& value : spec.values) {
        auto net = parseNetwork(value);
        if (!net) {
            return makeError(
                "cidr: '{}' is not an IP network (e.g. 10.0.0.0/8, fd00::/8 or a bare address)",
                value);
        }
        networks_.push_back(*net);
    }
    return okStatus();
}

template <typename Pred>
bool Matcher::anyOrAll(size_t count, Pred pred) const {
    for (size_t i = 0; i < count; ++i) {
        if (pred(i) != match_all_) return !match_all_;
    }
    return match_all_;
}

bool Matcher::match(const std::string_view* value, const std::string_view* other) const {
    bool hit;
    if (op_ == Op::kIsNull) {
        hit = value == nullptr || value->empty();
    } else if (op_ == Op::kNotNull) {
        hit = value != nullptr && !value->empty();
    } else if (value == nullptr) {
        hit = false;
    } else if (!other_field_.empty()) {
        hit = other != nullptr && matchOther(*value, *other);
    } else {
        hit = matchPresent(*value);
    }
    return hit != negate_;
}

bool Matcher::matchPresent(std::string_view value) const {
    switch (op_) {
        case Op::kEquals:
        case Op::kContains:
        case Op::kStartsWith:
        case Op::kEndsWith: {
            if (!match_all_) {
                const uint64_t length_bit = uint64_t{1} << std::min<size_t>(value.size(), 63);
                if ((equals_set_lengths_ & length_bit) != 0 &&
                    equals_set_.find(value) != equals_set_.end()) {
                    return true;
                }
                for (const StringPattern& p : patterns_) {
                    if (matchPattern(p, value)) return true;
                }
                return false;
            }
            uint32_t begin = 0;
            for (uint32_t end : group_ends_) {
                bool any = false;
                for (uint32_t i = begin; i < end && !any; ++i)
                    any = matchPattern(patterns_[i], value);
                if (!any) return false;
                begin = end;
            }
            return true;
        }
        case Op::kRegex:
            return anyOrAll(regexes_.size(), [&](size_t i) {
                return regexes_[i]->Match(value, 0, value.size(), RE2::UNANCHORED, nullptr, 0);
            });
        case Op::kLess:
        case Op::kLessEq:
        case Op::kGreater:
        case Op::kGreaterEq: {
            const auto n = parseNumber(value);
            if (!n) return false;
            return anyOrAll(numbers_.size(), [&](size_t i) {
                return numericHolds(op_, compareNumbers(*n, numbers_[i]));
            });
        }
        case Op::kCidr: {
            Network addr;
            if (!parseAddress(value, addr)) return false;
            if (isV4Mapped(addr)) unmapV4(addr);
            return anyOrAll(networks_.size(),
                            [&](size_t i) { return inNetwork(networks_[i], addr); });
        }
        case Op::kIsNull:
        case Op::kNotNull:
            break;
    }
    return false;
}

bool Matcher::matchOther(std::string_view value, std::string_view other) const {
    switch (op_) {
        case Op::kEquals:
            return equalsText(value, other, nocase_);
        case Op::kContains:
            return containsText(value, other, nocase_);
        case Op::kStartsWith:
            return startsText(value, other, nocase_);
        case Op::kEndsWith:
            return endsText(value, other, nocase_);
        case Op::kLess:
        case Op::kLessEq:
        case Op::kGreater:
        case Op::kGreaterEq: {
            const auto a = parseNumber(value);
            const auto b = parseNumber(other);
            return a && b && numericHolds(op_, compareNumbers(*a, *b));
        }
        default:
            return false;
    }
}

std::vector<Matcher::Literal> Matcher::literals() const {
    std::vector<Literal> out;
    if (!other_field_.empty()) return out;
    if (op_ == Op::kRegex) {
        for (const auto& re : regexes_) out.push_back({re->pattern(), nocase_, true});
        return out;
    }
    if (!isStringOp(op_)) return out;
    auto add = [&out](Literal l) {
        if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(std::move(l));
    };
    for (const StringPattern& p : patterns_) {
        std::string_view best;
        if (p.shape == Shape::kGlob || p.shape == Shape::kSegments) {
            size_t start = 0;
            for (size_t i = 0; i <= p.text.size(); ++i) {
                if (i == p.text.size() || p.glob[i] != kGlobChar) {
                    if (i - start > best.size())
                        best = std::string_view(p.text).substr(start, i - start);
                    start = i + 1;
                }
            }
        } else if (p.shape != Shape::kAnything) {
            best = p.text;
        }
        if (best.empty()) return {};  // this pattern can match without any literal
        add({std::string(best), p.nocase, false});
    }
    std::vector<std::string> exact(equals_set_.begin(), equals_set_.end());
    std::sort(exact.begin(), exact.end());
    for (std::string& s : exact) {
        if (s.empty()) return {};
        add({std::move(s), nocase_, false});
    }
    return out;
}

}  // namespace vigil::hub
