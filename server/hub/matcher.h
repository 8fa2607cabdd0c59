// Field matchers of the rule engine: one compiled test of one record field (Vigil checks and Sigma
// field conditions alike), with the Sigma value modifiers applied once at compile time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "libs/common/result.h"

namespace re2 {
class RE2;
}

namespace vigil::hub {

enum class Op : uint8_t {
    kEquals,
    kContains,
    kStartsWith,
    kEndsWith,
    kRegex,
    kLess,
    kLessEq,
    kGreater,
    kGreaterEq,
    kIsNull,
    kNotNull,
    kCidr,
};

// The operator's name for messages ("equals", "starts_with", "greater_equal", ...).
std::string_view opName(Op op);

// What a check asks of a field. Semantics (all decided here, once, for both rule languages):
// - A missing field (value == nullptr) fails every operator except kIsNull; `negate` is a plain
//   logical NOT of the whole result, so "not_equals x" on a missing field is true (as Sigma's
//   `not selection` is).
// - kIsNull: the field is missing or empty. kNotNull is its exact complement (present and
//   non-empty), so negate(kIsNull) == kNotNull. An empty field is otherwise an ordinary string:
//   equals "" and contains "" match it.
// - String operators compare bytes; `nocase` folds ASCII letters only. Sigma's default
//   case-insensitivity is the loader's job (it sets `nocase`). Patterns produced by base64 and
//   base64offset are always compared case-sensitively: base64 text is case-significant.
// - kRegex is an RE2 search (partial match, like Sigma |re); anchor with ^ and $ when needed.
// - Numeric operators parse both sides as a 64-bit integer (signed or unsigned), else a finite
//   double; two integers compare exactly. A value that is not a number fails the test (never an
//   error at match time); a rule value that is not a number is a compile error. kEquals is always
//   a string comparison ("1.0" does not equal "1").
// - kCidr: the field holds an IPv4 or IPv6 address ("fe80::1%eth0" zones ignored; IPv4-mapped
//   IPv6 addresses such as ::ffff:10.0.0.1 count as IPv4). A rule value is a network
//   ("10.0.0.0/8", "fd00::/8"; host bits are masked) or a bare address (/32 or /128).
// - `values` are any-of; with `match_all` every value must match (each value's modifier
//   expansions, e.g. the windash variants, stay any-of within that value).
// - `nocase` and `sigma_wildcards` are ignored where they mean nothing (numeric, cidr, null);
//   base64, base64offset and windash on such operators, or with other_field, are errors.
struct MatchSpec {
    Op op = Op::kEquals;
    std::vector<std::string> values;  // one or more patterns (any-of unless match_all)
    bool match_all = false;           // Sigma |all
    bool negate = false;              // Vigil "not_..." forms
    bool nocase = false;              // case-insensitive (ASCII) forms
    // Sigma plain values: '*' any run, '?' one character (one UTF-8 sequence), '\*' '\?' '\\'
    // escapes; any other backslash is literal (C:\Windows). Applies to the four string operators;
    // kContains/kStartsWith/kEndsWith wrap the value in '*' as Sigma's modifiers do.
    bool sigma_wildcards = false;
    // Compare against this field of the same event instead of `values` (string and numeric
    // operators only; `values` must then be empty). Never wildcards: the other value is literal.
    std::string other_field;
    // Sigma |base64 (the value's base64 text, padded), |base64offset (the three fragments that
    // appear whatever the value's offset in the encoded data; needs kContains), |windash (a '-' or
    // '/' that starts an option also matches '-', '/', en dash, em dash and horizontal bar).
    bool base64 = false;
    bool base64offset = false;
    bool windash = false;
};

namespace detail {

// How one transformed string pattern is tested; wildcards are compiled down to the simplest.
// kSegments: '*' wildcards only, matched as literal runs searched left to right; kGlob has '?'.
enum class Shape : uint8_t {
    kEquals,
    kContains,
    kStartsWith,
    kEndsWith,
    kSegments,
    kGlob,
    kAnything,
};

// Glob element kinds, parallel to StringPattern::text.
inline constexpr char kGlobChar = 0;
inline constexpr char kGlobOne = 1;
inline constexpr char kGlobRun = 2;

struct StringPattern {
    Shape shape = Shape::kEquals;
    bool nocase = false;  // text is already lowercased when set
    std::string text;
    std::string glob;  // kSegments and kGlob: one kind per byte of text
    // kSegments: offset and length in text of each literal run between '*'s, in order.
    std::vector<std::pair<uint32_t, uint32_t>> segments;
};

struct Number {
    bool is_int = false;
    __int128 i = 0;  // holds every int64 and uint64
    double d = 0;
};

struct Network {
    uint8_t family = 4;  // 4 or 6
    uint8_t prefix = 0;
    std::array<uint8_t, 16> addr{};
};

struct FoldedHash {
    using is_transparent = void;
    bool nocase = false;
    size_t operator()(std::string_view s) const;
};
struct FoldedEq {
    using is_transparent = void;
    bool nocase = false;
    bool operator()(std::string_view a, std::string_view b) const;
};

}  // namespace detail

// A compiled check. Immutable after compile(): match() and literals() are safe to call from any
// number of threads at once. Copies are cheap for regexes (shared, immutable RE2 objects).
class Matcher {
public:
    // Every error names the operator and the offending value: a bad regex carries RE2's message,
    // a non-numeric value for numeric ops, a bad CIDR, other_field with regex/cidr, empty values.
    static Result<Matcher> compile(const MatchSpec& spec);

    // value: the field's value, or nullptr when the event lacks the field. other: the
    // other_field's value (nullptr if absent) when other_field is set; a missing side fails.
    // Never allocates.
    bool match(const std::string_view* value, const std::string_view* other = nullptr) const;

    // For a Hyperscan prefilter: a set of literals and regexes such that whenever the
    // un-negated test matches a value, the value contains one of the literals or a regex finds a
    // match in it (a necessary condition, not a sufficient one). Literal text is lowercased when
    // nocase. Empty when no such set exists: numeric, cidr and null operators, other_field, and
    // patterns with no literal character (empty values, Sigma '*' alone). A glob contributes its
    // longest wildcard-free run. The caller decides what a negated matcher means for prefiltering.
    struct Literal {
        std::string text;
        bool nocase;
        bool is_regex;
        bool operator==(const Literal&) const = default;
    };
    std::vector<Literal> literals() const;

    Op op() const { return op_; }
    bool negated() const { return negate_; }
    const std::string& otherField() const { return other_field_; }

private:
    Matcher() = default;

    Status compileStrings(const MatchSpec& spec);
    Status compileRegexes(const MatchSpec& spec);
    Status compileNumbers(const MatchSpec& spec);
    Status compileNetworks(const MatchSpec& spec);

    bool matchPresent(std::string_view value) const;
    bool matchOther(std::string_view value, std::string_view other) const;
    template <typename Pred>
    bool anyOrAll(size_t count, Pred pred) const;

    Op op_ = Op::kEquals;
    bool negate_ = false;
    bool nocase_ = false;
    bool match_all_ = false;
    std::string other_field_;

    // String operators. group_ends_[g] is one past the last pattern of value g (its modifier
    // expansions); used only with match_all. Exact any-of equals values live in equals_set_ when
    // there are many.
    std::vector<detail::StringPattern> patterns_;
    std::vector<uint32_t> group_ends_;
    std::unordered_set<std::string, detail::FoldedHash, detail::FoldedEq> equals_set_;
    uint64_t equals_set_lengths_ = 0;  // bit min(length, 63) for each value in equals_set_

    std::vector<std::shared_ptr<const re2::RE2>> regexes_;
    std::vector<detail::Number> numbers_;
    std::vector<detail::Network> networks_;
};

}  // namespace vigil::hub
