// Condition language: tokenizer with positions, recursive-descent parser into a flat node vector,
// short-circuit evaluator, canonical printer.
#include "server/hub/condition.h"

#include <algorithm>
#include <cassert>
#include <optional>

#include <fmt/format.h>

namespace vigil::hub {

namespace {

enum class Tok : uint8_t { kName, kAnd, kOr, kNot, kOf, kThem, kLParen, kRParen, kEnd, kBad };

struct Token {
    Tok kind;
    SourcePos pos;
    std::string_view text;  // the token's bytes; for kBad, unused (see bad_message)
};

bool isNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '*';
}

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool equalsLower(std::string_view word, std::string_view lower) {
    if (word.size() != lower.size()) return false;
    for (size_t i = 0; i < word.size(); ++i) {
        char c = word[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != lower[i]) return false;
    }
    return true;
}

Tok classify(std::string_view word) {
    if (equalsLower(word, "and")) return Tok::kAnd;
    if (equalsLower(word, "or")) return Tok::kOr;
    if (equalsLower(word, "not")) return Tok::kNot;
    if (equalsLower(word, "of")) return Tok::kOf;
    if (equalsLower(word, "them")) return Tok::kThem;
    return Tok::kName;
}

// Splits the whole text up front; lexing stops at the first bad byte, which becomes a kBad token
// (the last before kEnd) described by bad_message.
struct Lexed {
    std::vector<Token> tokens;
    std::string bad_message;
};

Lexed tokenize(std::string_view text) {
    Lexed out;
    int line = 1;
    int column = 1;
    SourcePos end{1, 1};  // just past the last token, where "found end of condition" points
    size_t i = 0;
    while (i < text.size()) {
        char c = text[i];
        if (isSpace(c)) {
            if (c == '\n') {
                ++line;
                column = 1;
            } else {
                ++column;
            }
            ++i;
            continue;
        }
        SourcePos pos{line, column};
        if (c == '(' || c == ')') {
            out.tokens.push_back({c == '(' ? Tok::kLParen : Tok::kRParen, pos, text.substr(i, 1)});
            ++i;
            ++column;
        } else if (isNameChar(c)) {
            size_t start = i;
            while (i < text.size() && isNameChar(text[i])) ++i;
            std::string_view word = text.substr(start, i - start);
            out.tokens.push_back({classify(word), pos, word});
            column += static_cast<int>(word.size());
        } else {
            if (c == '|') {
                out.bad_message =
                    "the pipe aggregation ('| count() ...') is not supported: it is deprecated in "
                    "Sigma; write a Vigil frequency rule instead";
            } else if (c >= 0x21 && c < 0x7f) {
                out.bad_message = fmt::format("unexpected character '{}'", c);
            } else {
                out.bad_message =
                    fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c));
            }
            out.tokens.push_back({Tok::kBad, pos, text.substr(i, 1)});
            out.tokens.push_back({Tok::kEnd, pos, {}});
            return out;
        }
        end = {line, column};
    }
    out.tokens.push_back({Tok::kEnd, end, {}});
    return out;
}

// '*' matches any run of characters (none included); everything else matches itself.
bool globMatch(std::string_view pattern, std::string_view name) {
    size_t p = 0;
    size_t n = 0;
    size_t star = std::string_view::npos;
    size_t resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.size() && pattern[p] == name[n]) {
            ++p;
            ++n;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

// The closest defined name, if it is close enough to be a likely typo.
const std::string* suggest(std::string_view word, const std::vector<std::string>& names) {
    constexpr size_t kMaxLen = 64;  // bounds the cost on hostile input
    if (word.size() > kMaxLen) return nullptr;
    const std::string* best = nullptr;
    if (word.size() < 2) return nullptr;
    // At most a third of the word may differ (at least one edit, never the whole word).
    size_t best_distance = std::min(std::max<size_t>(1, word.size() / 3), word.size() - 1) + 1;
    for (const auto& name : names) {
        if (name.size() > kMaxLen) continue;
        size_t d = editDistance(word, name);
        if (d < best_distance) {
            best_distance = d;
            best = &name;
        }
    }
    return best;
}

std::string describe(const Token& t) {
    if (t.kind == Tok::kEnd) return "end of condition";
    return fmt::format("'{}'", t.text);
}

}  // namespace

std::string CondError::toString() const {
    return fmt::format("{}:{}: {}", pos.line, pos.column, message);
}

class ConditionParser {
public:
    ConditionParser(std::string_view text, const std::vector<std::string>& names)
        : lexed_(tokenize(text)), names_(names) {}

    std::variant<Condition, CondError> run() {
        cond_.names_ = names_;
        if (cur().kind == Tok::kEnd) return CondError{{1, 1}, "empty condition"};
        // Lexing comes first: a stray byte inside a word is the error, not the word's lookup.
        const Token& last = lexed_.tokens[lexed_.tokens.size() - 2];  // not the kEnd
        if (last.kind == Tok::kBad) return CondError{last.pos, lexed_.bad_message};
        int64_t root = parseOr();
        if (root >= 0 && cur().kind != Tok::kEnd) {
            if (cur().kind == Tok::kRParen) {
                fail(cur().pos, "unexpected ')' without a matching '('");
            } else {
                expected("'and', 'or' or end of condition");
            }
        }
        if (!error_) checkTreeDepth(static_cast<uint32_t>(root), 1);
        if (error_) return std::move(*error_);
        assert(static_cast<size_t>(root) + 1 == cond_.nodes_.size());
        std::vector<bool> seen(names_.size());
        auto see = [&](uint32_t name) {
            if (seen[name]) cond_.repeats_ = true;
            seen[name] = true;
        };
        for (const auto& node : cond_.nodes_) {
            if (node.op == Op::kName) {
                see(node.a);
            } else if (node.op == Op::kAnyOf || node.op == Op::kAllOf) {
                for (uint32_t k = 0; k < node.n; ++k) see(cond_.edges_[node.a + k]);
            }
        }
        return std::move(cond_);
    }

private:
    using Op = Condition::Op;

    const Token& cur() const { return lexed_.tokens[pos_]; }
    const Token& next() const {
        return lexed_.tokens[std::min(pos_ + 1, lexed_.tokens.size() - 1)];
    }
    void advance() {
        if (cur().kind != Tok::kEnd) ++pos_;
    }

    int64_t fail(SourcePos pos, std::string message) {
        if (!error_) error_ = CondError{pos, std::move(message)};
        return -1;
    }
    int64_t expected(std::string_view what) {
        return fail(cur().pos, fmt::format("expected {}, found {}", what, describe(cur())));
    }

    uint32_t addNode(SourcePos pos, Op op, uint32_t a, uint32_t n = 0, uint32_t pattern = 0) {
        cond_.nodes_.push_back({op, a, n, pattern});
        node_pos_.push_back(pos);
        return static_cast<uint32_t>(cond_.nodes_.size() - 1);
    }

    // Appends child to an and/or list; a child that is itself a group of the same operator (from
    // parentheses) is the last node built, with the last edges, so it is taken apart in place.
    void addOperand(Op op, std::vector<uint32_t>& children, uint32_t child) {
        const Condition::Node node = cond_.nodes_[child];
        if (node.op != op) {
            children.push_back(child);
            return;
        }
        assert(child + 1 == cond_.nodes_.size() && node.a + node.n == cond_.edges_.size());
        children.insert(children.end(), cond_.edges_.begin() + node.a, cond_.edges_.end());
        cond_.edges_.resize(node.a);
        cond_.nodes_.pop_back();
        node_pos_.pop_back();
    }

    int64_t parseList(Op op, Tok keyword) {
        int64_t first = op == Op::kOr ? parseList(Op::kAnd, Tok::kAnd) : parseNot();
        if (first < 0 || cur().kind != keyword) return first;
        const SourcePos op_pos = cur().pos;
        std::vector<uint32_t> children;
        addOperand(op, children, static_cast<uint32_t>(first));
        while (cur().kind == keyword) {
            advance();
            int64_t operand = op == Op::kOr ? parseList(Op::kAnd, Tok::kAnd) : parseNot();
            if (operand < 0) return -1;
            addOperand(op, children, static_cast<uint32_t>(operand));
        }
        auto a = static_cast<uint32_t>(cond_.edges_.size());
        cond_.edges_.insert(cond_.edges_.end(), children.begin(), children.end());
        return addNode(op_pos, op, a, static_cast<uint32_t>(children.size()));
    }
    int64_t parseOr() { return parseList(Op::kOr, Tok::kOr); }

    // Syntactic nesting (parentheses and 'not') bounds the parser's recursion; the tree depth
    // (and/or groups and 'not', as toString() writes them) bounds evaluation and keeps the
    // canonical form parseable: `a or b and (...)` nests two groups behind one parenthesis.
    void checkTreeDepth(uint32_t id, int level) {
        const Condition::Node& node = cond_.nodes_[id];
        if (node.op != Op::kNot && node.op != Op::kAnd && node.op != Op::kOr) return;
        if (level > kMaxConditionDepth) {
            fail(node_pos_[id], fmt::format("nesting deeper than {} levels", kMaxConditionDepth));
            return;
        }
        if (node.op == Op::kNot) return checkTreeDepth(node.a, level + 1);
        for (uint32_t k = 0; k < node.n && !error_; ++k) {
            checkTreeDepth(cond_.edges_[node.a + k], level + 1);
        }
    }

    bool enter(SourcePos pos) {
        if (++depth_ <= kMaxConditionDepth) return true;
        fail(pos, fmt::format("nesting deeper than {} levels", kMaxConditionDepth));
        return false;
    }

    int64_t parseNot() {
        if (cur().kind != Tok::kNot) return parsePrimary();
        const SourcePos not_pos = cur().pos;
        if (!enter(not_pos)) return -1;
        advance();
        int64_t child = parseNot();
        --depth_;
        if (child < 0) return -1;
        return addNode(not_pos, Op::kNot, static_cast<uint32_t>(child));
    }

    int64_t parsePrimary() {
        const Token& t = cur();
        switch (t.kind) {
            case Tok::kLParen: {
                if (!enter(t.pos)) return -1;
                advance();
                int64_t inner = parseOr();
                if (inner < 0) return -1;
                if (cur().kind != Tok::kRParen) return expected("')'");
                advance();
                --depth_;
                return inner;
            }
            case Tok::kName:
                if (next().kind == Tok::kOf) return parseQuantified();
                return parseName();
            case Tok::kThem:
                return fail(t.pos, "'them' is only valid after '1 of' or 'all of'");
            default:
                return expected("identifier");
        }
    }

    int64_t parseName() {
        const Token& t = cur();
        if (t.text.find('*') != std::string_view::npos) {
            return fail(t.pos, fmt::format("wildcard in '{}' is only allowed after '1 of' or "
                                           "'all of'",
                                           t.text));
        }
        for (size_t i = 0; i < names_.size(); ++i) {
            if (names_[i] == t.text) {
                advance();
                return addNode(t.pos, Op::kName, static_cast<uint32_t>(i));
            }
        }
        return fail(t.pos, unknown(t.text));
    }

    std::string unknown(std::string_view word) const {
        if (const std::string* close = suggest(word, names_)) {
            return fmt::format("unknown name '{}' (did you mean '{}'?)", word, *close);
        }
        return fmt::format("unknown name '{}'", word);
    }

    int64_t parseQuantified() {
        const Token quant = cur();
        Op op;
        if (quant.text == "1" || equalsLower(quant.text, "any")) {
            op = Op::kAnyOf;
        } else if (equalsLower(quant.text, "all")) {
            op = Op::kAllOf;
        } else if (std::all_of(quant.text.begin(), quant.text.end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
            return fail(quant.pos, fmt::format("'{} of' is not supported: Sigma allows '1 of', "
                                               "'any of' and 'all of'",
                                               quant.text));
        } else {
            return fail(quant.pos, fmt::format("expected '1', 'any' or 'all' before 'of', found "
                                               "'{}'",
                                               quant.text));
        }
        advance();  // quantifier
        advance();  // of
        const Token target = cur();
        if (target.kind != Tok::kName && target.kind != Tok::kThem) {
            return expected("a name pattern or 'them' after 'of'");
        }
        bool them = target.kind == Tok::kThem;
        bool underscore_ok = !them && target.text.front() == '_';
        auto a = static_cast<uint32_t>(cond_.edges_.size());
        for (size_t i = 0; i < names_.size(); ++i) {
            const std::string& name = names_[i];
            if (!underscore_ok && !name.empty() && name.front() == '_') continue;
            if (them || globMatch(target.text, name)) {
                cond_.edges_.push_back(static_cast<uint32_t>(i));
            }
        }
        auto n = static_cast<uint32_t>(cond_.edges_.size() - a);
        if (n == 0) {
            if (them) return fail(target.pos, "'them' matches no defined name");
            if (target.text.find('*') == std::string_view::npos) {
                std::string prefix = fmt::format("{}*", target.text);
                for (const auto& name : names_) {
                    if (globMatch(prefix, name)) {
                        return fail(target.pos, fmt::format("unknown name '{}' (did you mean "
                                                            "'{}'?)",
                                                            target.text, prefix));
                    }
                }
                return fail(target.pos, unknown(target.text));
            }
            return fail(target.pos, fmt::format("'{}' matches no defined name", target.text));
        }
        advance();
        cond_.patterns_.emplace_back(them ? std::string_view("them") : target.text);
        return addNode(quant.pos, op, a, n, static_cast<uint32_t>(cond_.patterns_.size() - 1));
    }

    Lexed lexed_;
    const std::vector<std::string>& names_;
    size_t pos_ = 0;
    int depth_ = 0;
    Condition cond_;
    std::vector<SourcePos> node_pos_;  // where each node of cond_ starts (its operator for and/or)
    std::optional<CondError> error_;
};

std::variant<Condition, CondError> Condition::parseWithPos(std::string_view text,
                                                           const std::vector<std::string>& names) {
    return ConditionParser(text, names).run();
}

Result<Condition> Condition::parse(std::string_view text, const std::vector<std::string>& names) {
    auto parsed = parseWithPos(text, names);
    if (auto* err = std::get_if<CondError>(&parsed)) return Error{err->toString()};
    return std::get<Condition>(std::move(parsed));
}

bool Condition::eval(const std::vector<bool>& values) const {
    auto leaf = [&values](uint32_t i) { return i < values.size() && values[i]; };
    return evalNode(static_cast<uint32_t>(nodes_.size() - 1), leaf);
}

bool Condition::eval(const std::function<bool(size_t)>& value) const {
    return evalLazy([&value](size_t i) { return value(i); });
}

void Condition::print(uint32_t id, std::string& out) const {
    const Node& node = nodes_[id];
    switch (node.op) {
        case Op::kName:
            out += names_[node.a];
            return;
        case Op::kNot:
            out += "not ";
            print(node.a, out);
            return;
        case Op::kAnd:
        case Op::kOr:
            out += '(';
            for (uint32_t k = 0; k < node.n; ++k) {
                if (k > 0) out += node.op == Op::kAnd ? " and " : " or ";
                print(edges_[node.a + k], out);
            }
            out += ')';
            return;
        case Op::kAnyOf:
        case Op::kAllOf:
            out += node.op == Op::kAnyOf ? "1 of " : "all of ";
            out += patterns_[node.pattern];
            return;
    }
}

std::string Condition::toString() const {
    std::string out;
    print(static_cast<uint32_t>(nodes_.size() - 1), out);
    return out;
}

std::vector<size_t> Condition::referenced() const {
    std::vector<size_t> out;
    for (const Node& node : nodes_) {
        if (node.op == Op::kName) {
            out.push_back(node.a);
        } else if (node.op == Op::kAnyOf || node.op == Op::kAllOf) {
            out.insert(out.end(), edges_.begin() + node.a, edges_.begin() + node.a + node.n);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace vigil::hub
