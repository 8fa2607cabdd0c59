// The boolean condition language shared by Sigma rules (`detection.condition`) and Vigil rules
// (over their named checks): names, and/or/not, parentheses, `1 of X*`, `all of X*`, `them`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "libs/common/result.h"

namespace vigil::hub {

// 1-based position within the condition text; columns count bytes (a tab is one column). The
// rule loader adds the line (and, on the first line, column) offset of the condition in its file.
struct SourcePos {
    int line = 0;
    int column = 0;
};

struct CondError {
    SourcePos pos;
    std::string message;

    std::string toString() const;  // "line:col: message"
};

// Deeper conditions are rejected at parse time, so evaluation (recursive) has a small stack
// bound: both the written nesting (each parenthesis and `not` opens a level) and the nesting of
// the parsed tree (each and/or group and `not`, as toString() writes them) are limited.
inline constexpr int kMaxConditionDepth = 64;

// A compiled condition. Immutable after parse; safe to evaluate from many threads at once.
//
// Grammar (keywords case-insensitive, precedence not > and > or, and/or left-associative):
//   or      := and ('or' and)*
//   and     := not ('and' not)*
//   not     := 'not' not | primary
//   primary := '(' or ')' | quant 'of' (PATTERN | 'them') | NAME
//   quant   := '1' | 'any' | 'all'
// NAME is letters, digits, '_', '-', '.'; a PATTERN may also hold '*' (any run of characters)
// and must match whole names. `them` and patterns leave out names starting with '_' (as pySigma
// does) unless the pattern itself starts with '_'. Names are case-sensitive; if `names` holds a
// name twice, the first one is used. The deprecated pipe aggregation (`| count() by x > 5`) and
// `N of` for N > 1 are reported as unsupported.
class Condition {
public:
    // names: the selection/check names the rule defines, in definition order. The error message
    // is "line:col: message", e.g. "1:7: expected identifier, found ')'".
    static Result<Condition> parse(std::string_view text, const std::vector<std::string>& names);
    static std::variant<Condition, CondError> parseWithPos(std::string_view text,
                                                           const std::vector<std::string>& names);

    // values[i]: whether names[i] matched this event (an index past the end counts as false).
    bool eval(const std::vector<bool>& values) const;
    // Lazy form, the one the engine uses: value(i) is called only for names whose value can still
    // change the result (short-circuit, left to right) and at most once per index per call.
    bool eval(const std::function<bool(size_t)>& value) const;
    // The same with the callable inlined (the engine's hot path).
    template <typename Value>
    bool evalLazy(Value&& value) const;

    // Canonical form: lower-case keywords, every and/or group in parentheses (nested groups of
    // the same operator merged), `any of` written `1 of`. parse(toString()) gives back the same
    // condition.
    std::string toString() const;
    // Sorted indexes (into names) of every name the condition refers to, patterns expanded.
    std::vector<size_t> referenced() const;
    size_t nameCount() const { return names_.size(); }

private:
    friend class ConditionParser;

    enum class Op : uint8_t { kName, kNot, kAnd, kOr, kAnyOf, kAllOf };
    // kName: a = name index. kNot: a = child node. kAnd/kOr: edges_[a, a+n) are child nodes.
    // kAnyOf/kAllOf: edges_[a, a+n) are name indexes, pattern = index into patterns_.
    struct Node {
        Op op;
        uint32_t a = 0;
        uint32_t n = 0;
        uint32_t pattern = 0;
    };

    Condition() = default;

    template <typename Leaf>
    bool evalNode(uint32_t id, Leaf& leaf) const;
    void print(uint32_t id, std::string& out) const;

    std::vector<Node> nodes_;  // children before parents; the root is the last node
    std::vector<uint32_t> edges_;
    std::vector<std::string> patterns_;  // `1 of`/`all of` targets as written ("them" included)
    std::vector<std::string> names_;
    bool repeats_ = false;  // some name can be reached twice: the lazy form memoizes
};

template <typename Leaf>
bool Condition::evalNode(uint32_t id, Leaf& leaf) const {
    const Node& node = nodes_[id];
    switch (node.op) {
        case Op::kName:
            return leaf(node.a);
        case Op::kNot:
            return !evalNode(node.a, leaf);
        case Op::kAnd:
            for (uint32_t k = 0; k < node.n; ++k) {
                if (!evalNode(edges_[node.a + k], leaf)) return false;
            }
            return true;
        case Op::kOr:
            for (uint32_t k = 0; k < node.n; ++k) {
                if (evalNode(edges_[node.a + k], leaf)) return true;
            }
            return false;
        case Op::kAnyOf:
            for (uint32_t k = 0; k < node.n; ++k) {
                if (leaf(edges_[node.a + k])) return true;
            }
            return false;
        case Op::kAllOf:
            for (uint32_t k = 0; k < node.n; ++k) {
                if (!leaf(edges_[node.a + k])) return false;
            }
            return true;
    }
    return false;
}

template <typename Value>
bool Condition::evalLazy(Value&& value) const {
    const auto root = static_cast<uint32_t>(nodes_.size() - 1);
    if (!repeats_) {
        auto leaf = [&value](uint32_t i) { return static_cast<bool>(value(i)); };
        return evalNode(root, leaf);
    }
    // A name reachable twice is computed once: bit masks for the usual few names, else a vector.
    if (names_.size() <= 64) {
        uint64_t known = 0;
        uint64_t set = 0;
        auto leaf = [&](uint32_t i) {
            uint64_t bit = uint64_t{1} << i;
            if (!(known & bit)) {
                known |= bit;
                if (value(i)) set |= bit;
            }
            return (set & bit) != 0;
        };
        return evalNode(root, leaf);
    }
    std::vector<int8_t> memo(names_.size(), -1);
    auto leaf = [&](uint32_t i) {
        if (memo[i] < 0) memo[i] = value(i) ? 1 : 0;
        return memo[i] == 1;
    };
    return evalNode(root, leaf);
}

}  // namespace vigil::hub
