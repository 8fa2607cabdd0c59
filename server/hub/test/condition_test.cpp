// Condition language: every form, precedence, error positions and messages, short-circuit
// evaluation and the canonical printer.
#include "server/hub/condition.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vigil::hub {
namespace {

const std::vector<std::string> kNames = {"a", "b", "c", "d"};

Condition mustParse(std::string_view text, const std::vector<std::string>& names = kNames) {
    auto r = Condition::parse(text, names);
    EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.message());
    if (!r.ok()) return Condition::parse("a", {"a"}).value();
    return std::move(r).value();
}

std::string errorOf(std::string_view text, const std::vector<std::string>& names = kNames) {
    auto r = Condition::parse(text, names);
    if (r.ok()) return "parsed as " + r->toString();
    return r.message();
}

// The condition's truth table over all 2^n assignments, bit i of the index = names[i].
std::string truthTable(const Condition& c, size_t n) {
    std::string out;
    for (uint32_t bits = 0; bits < (1u << n); ++bits) {
        std::vector<bool> values(n);
        for (size_t i = 0; i < n; ++i) values[i] = (bits >> i) & 1;
        out += c.eval(values) ? '1' : '0';
    }
    return out;
}

// Same as truthTable through the lazy form, checking it agrees with the vector form.
std::string lazyTruthTable(const Condition& c, size_t n) {
    std::string out;
    for (uint32_t bits = 0; bits < (1u << n); ++bits) {
        bool r = c.eval([bits](size_t i) { return ((bits >> i) & 1) != 0; });
        out += r ? '1' : '0';
    }
    return out;
}

TEST(Condition, SingleName) {
    auto c = mustParse("b");
    EXPECT_FALSE(c.eval({false, false, false, false}));
    EXPECT_TRUE(c.eval({false, true, false, false}));
    EXPECT_EQ(c.toString(), "b");
    EXPECT_EQ(c.referenced(), (std::vector<size_t>{1}));
    EXPECT_EQ(c.nameCount(), 4u);
}

TEST(Condition, AndOrNot) {
    // Truth tables over (a, b): index bit 0 = a, bit 1 = b.
    EXPECT_EQ(truthTable(mustParse("a and b"), 2), "0001");
    EXPECT_EQ(truthTable(mustParse("a or b"), 2), "0111");
    EXPECT_EQ(truthTable(mustParse("not a"), 1), "10");
    EXPECT_EQ(truthTable(mustParse("not not a"), 1), "01");
    EXPECT_EQ(truthTable(mustParse("a and not b"), 2), "0100");
}

TEST(Condition, Precedence) {
    // a or (b and c): true when a, or when both b and c.
    auto c = mustParse("a or b and c");
    EXPECT_EQ(c.toString(), "(a or (b and c))");
    EXPECT_EQ(truthTable(c, 3), "01010111");
    // (not a) and b
    auto n = mustParse("not a and b");
    EXPECT_EQ(n.toString(), "(not a and b)");
    EXPECT_EQ(truthTable(n, 2), "0010");
    EXPECT_EQ(mustParse("a and b or c and d").toString(), "((a and b) or (c and d))");
    EXPECT_EQ(mustParse("not a or b").toString(), "(not a or b)");
    EXPECT_EQ(mustParse("a or not b and c").toString(), "(a or (not b and c))");
}

TEST(Condition, Parentheses) {
    auto c = mustParse("(a or b) and c");
    EXPECT_EQ(c.toString(), "((a or b) and c)");
    EXPECT_EQ(truthTable(c, 3), "00000111");
    EXPECT_EQ(mustParse("((((a))))").toString(), "a");
    EXPECT_EQ(mustParse("not (a and (b or (c and not d)))").toString(),
              "not (a and (b or (c and not d)))");
    // Groups of the same operator merge: and/or are associative.
    EXPECT_EQ(mustParse("(a and b) and (c and d)").toString(), "(a and b and c and d)");
    EXPECT_EQ(mustParse("a or (b or (c or d))").toString(), "(a or b or c or d)");
    EXPECT_EQ(mustParse("(a or b) and (c or d)").toString(), "((a or b) and (c or d))");
}

TEST(Condition, MixedCaseKeywords) {
    auto c = mustParse("a AND Not b Or c");
    EXPECT_EQ(c.toString(), "((a and not b) or c)");
    const std::vector<std::string> sel = {"sel1", "sel2"};
    EXPECT_EQ(mustParse("ALL OF sel*", sel).toString(), "all of sel*");
    EXPECT_EQ(mustParse("Any Of THEM", sel).toString(), "1 of them");
}

TEST(Condition, NamesWithDashesDotsAndDigits) {
    const std::vector<std::string> names = {"selection-main", "filter.optional", "sel_2", "1"};
    auto c = mustParse("selection-main and not filter.optional or sel_2 and 1", names);
    EXPECT_EQ(c.toString(), "((selection-main and not filter.optional) or (sel_2 and 1))");
    EXPECT_TRUE(c.eval({true, false, false, false}));
    EXPECT_FALSE(c.eval({true, true, true, false}));
    EXPECT_TRUE(c.eval({true, true, true, true}));
    // Names are case-sensitive; keywords are not.
    EXPECT_EQ(errorOf("Selection-main", names),
              "1:1: unknown name 'Selection-main' (did you mean 'selection-main'?)");
}

TEST(Condition, OneOfAndAllOfPatterns) {
    const std::vector<std::string> names = {"selection_img", "selection_cli", "filter_a", "sel"};
    auto one = mustParse("1 of selection_*", names);
    EXPECT_EQ(one.toString(), "1 of selection_*");
    EXPECT_EQ(one.referenced(), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(truthTable(one, 4), "0111011101110111");
    auto all = mustParse("all of selection_* and not 1 of filter*", names);
    EXPECT_EQ(all.toString(), "(all of selection_* and not 1 of filter*)");
    EXPECT_TRUE(all.eval({true, true, false, false}));
    EXPECT_FALSE(all.eval({true, true, true, false}));
    EXPECT_FALSE(all.eval({true, false, false, true}));
    // 'any of' is '1 of'; the pattern must match whole names, '*' anywhere, several times.
    EXPECT_EQ(mustParse("any of sel*", names).referenced(), (std::vector<size_t>{0, 1, 3}));
    EXPECT_EQ(mustParse("1 of *_cli", names).referenced(), (std::vector<size_t>{1}));
    EXPECT_EQ(mustParse("1 of s*e*_*", names).referenced(), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(mustParse("1 of sel", names).referenced(), (std::vector<size_t>{3}));
    EXPECT_EQ(mustParse("all of *", names).referenced(), (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(Condition, Them) {
    const std::vector<std::string> names = {"x", "y", "_helper"};
    auto one = mustParse("1 of them", names);
    auto all = mustParse("all of them", names);
    // Names starting with '_' are left out of 'them' and of patterns (pySigma's rule) ...
    EXPECT_EQ(one.referenced(), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(all.referenced(), (std::vector<size_t>{0, 1}));
    EXPECT_EQ(mustParse("1 of *", names).referenced(), (std::vector<size_t>{0, 1}));
    EXPECT_FALSE(one.eval({false, false, true}));
    EXPECT_TRUE(one.eval({false, true, false}));
    EXPECT_FALSE(all.eval({true, false, true}));
    EXPECT_TRUE(all.eval({true, true, false}));
    // ... unless the pattern asks for them, or they are named.
    EXPECT_EQ(mustParse("1 of _*", names).referenced(), (std::vector<size_t>{2}));
    EXPECT_EQ(mustParse("all of them and not _helper", names).toString(),
              "(all of them and not _helper)");
    EXPECT_EQ(errorOf("1 of them", {"_only"}), "1:6: 'them' matches no defined name");
    EXPECT_EQ(errorOf("all of them", {}), "1:8: 'them' matches no defined name");
}

TEST(Condition, UnknownNames) {
    const std::vector<std::string> names = {"selection", "filter_main"};
    EXPECT_EQ(errorOf("selction", names),
              "1:1: unknown name 'selction' (did you mean 'selection'?)");
    EXPECT_EQ(errorOf("selection and not filter_mian", names),
              "1:19: unknown name 'filter_mian' (did you mean 'filter_main'?)");
    EXPECT_EQ(errorOf("selection or keywords", names), "1:14: unknown name 'keywords'");
    EXPECT_EQ(errorOf("1 of filter", names),
              "1:6: unknown name 'filter' (did you mean 'filter*'?)");
    EXPECT_EQ(errorOf("1 of selecton", names),
              "1:6: unknown name 'selecton' (did you mean 'selection'?)");
    EXPECT_EQ(errorOf("a", {}), "1:1: unknown name 'a'");
}

TEST(Condition, PatternMatchingNoName) {
    const std::vector<std::string> names = {"selection", "filter_main"};
    EXPECT_EQ(errorOf("selection and not 1 of filter_opt*", names),
              "1:24: 'filter_opt*' matches no defined name");
    EXPECT_EQ(errorOf("all of sel*x", names), "1:8: 'sel*x' matches no defined name");
}

TEST(Condition, SyntaxErrorsWithPositions) {
    EXPECT_EQ(errorOf("a and )"), "1:7: expected identifier, found ')'");
    EXPECT_EQ(errorOf("a and"), "1:6: expected identifier, found end of condition");
    EXPECT_EQ(errorOf("a and   "), "1:6: expected identifier, found end of condition");
    EXPECT_EQ(errorOf("(a or b and c"), "1:14: expected ')', found end of condition");
    EXPECT_EQ(errorOf("(a or b c)"), "1:9: expected ')', found 'c'");
    EXPECT_EQ(errorOf("a b"), "1:3: expected 'and', 'or' or end of condition, found 'b'");
    EXPECT_EQ(errorOf("a or b)"), "1:7: unexpected ')' without a matching '('");
    EXPECT_EQ(errorOf("()"), "1:2: expected identifier, found ')'");
    EXPECT_EQ(errorOf("not"), "1:4: expected identifier, found end of condition");
    EXPECT_EQ(errorOf("a and or b"), "1:7: expected identifier, found 'or'");
    EXPECT_EQ(errorOf("a & b"), "1:3: unexpected character '&'");
    EXPECT_EQ(errorOf("a\x01"), "1:2: unexpected byte 0x01");
    EXPECT_EQ(errorOf("a and s\xc3\xa9l"), "1:8: unexpected byte 0xc3");
    EXPECT_EQ(errorOf("a*"), "1:1: wildcard in 'a*' is only allowed after '1 of' or 'all of'");
    EXPECT_EQ(errorOf("them"), "1:1: 'them' is only valid after '1 of' or 'all of'");
    EXPECT_EQ(errorOf("1 of"),
              "1:5: expected a name pattern or 'them' after 'of', found end "
              "of condition");
    EXPECT_EQ(errorOf("1 of (a)"),
              "1:6: expected a name pattern or 'them' after 'of', found "
              "'('");
    EXPECT_EQ(errorOf("of a"), "1:1: expected identifier, found 'of'");
    EXPECT_EQ(errorOf("2 of a*"),
              "1:1: '2 of' is not supported: Sigma allows '1 of', 'any of' "
              "and 'all of'");
    EXPECT_EQ(errorOf("a or b of c"), "1:6: expected '1', 'any' or 'all' before 'of', found 'b'");
    // The parser stops at the first error; a bad character is found before any parse error.
    EXPECT_EQ(errorOf("x and (a or"), "1:1: unknown name 'x'");
    EXPECT_EQ(errorOf("a and ) &"), "1:9: unexpected character '&'");
}

TEST(Condition, PipeAggregationIsUnsupported) {
    const std::string pipe_error =
        "the pipe aggregation ('| count() ...') is not supported: it is deprecated in Sigma; write "
        "a Vigil frequency rule instead";
    EXPECT_EQ(errorOf("a | count() by b > 5"), "1:3: " + pipe_error);
    EXPECT_EQ(errorOf("a and b\n  | count(c) > 5"), "2:3: " + pipe_error);
    EXPECT_EQ(errorOf("a and |"), "1:7: " + pipe_error);
    // The error position keeps the pipe even in the middle of the parse.
    auto r = Condition::parseWithPos("(a or b) | near c", kNames);
    ASSERT_TRUE(std::holds_alternative<CondError>(r));
    EXPECT_EQ(std::get<CondError>(r).pos.line, 1);
    EXPECT_EQ(std::get<CondError>(r).pos.column, 10);
}

TEST(Condition, EmptyCondition) {
    EXPECT_EQ(errorOf(""), "1:1: empty condition");
    EXPECT_EQ(errorOf("  \n\t "), "1:1: empty condition");
}

TEST(Condition, MultilinePositions) {
    // As in a YAML block scalar: positions count lines inside the condition text.
    EXPECT_EQ(errorOf("a and\n    not b and\n    (c or e)"), "3:11: unknown name 'e'");
    EXPECT_EQ(errorOf("a and\n  (b or\n"), "2:8: expected identifier, found end of condition");
    EXPECT_EQ(errorOf("a\r\nand\tb\r\nor )"), "3:4: expected identifier, found ')'");
    auto r = Condition::parseWithPos("a or\n  b and ?", kNames);
    ASSERT_TRUE(std::holds_alternative<CondError>(r));
    const auto& err = std::get<CondError>(r);
    EXPECT_EQ(err.pos.line, 2);
    EXPECT_EQ(err.pos.column, 9);
    EXPECT_EQ(err.message, "unexpected character '?'");
    EXPECT_EQ(err.toString(), "2:9: unexpected character '?'");
    auto ok = mustParse("a and\n  not b\n  or c\n");
    EXPECT_EQ(ok.toString(), "((a and not b) or c)");
}

TEST(Condition, ParseWithPosSuccess) {
    auto r = Condition::parseWithPos("a or b", kNames);
    ASSERT_TRUE(std::holds_alternative<Condition>(r));
    EXPECT_TRUE(std::get<Condition>(r).eval({false, true, false, false}));
}

std::string nested(int levels, std::string_view open, std::string_view close) {
    std::string s;
    for (int i = 0; i < levels; ++i) s += open;
    s += "a";
    for (int i = 0; i < levels; ++i) s += close;
    return s;
}

TEST(Condition, NestingLimit) {
    EXPECT_TRUE(Condition::parse(nested(kMaxConditionDepth, "(", ")"), kNames).ok());
    EXPECT_EQ(errorOf(nested(kMaxConditionDepth + 1, "(", ")")),
              "1:65: nesting deeper than 64 levels");
    EXPECT_TRUE(Condition::parse(nested(kMaxConditionDepth, "not ", ""), kNames).ok());
    EXPECT_EQ(errorOf(nested(kMaxConditionDepth + 1, "not ", "")),
              "1:257: nesting deeper than 64 levels");
    // Parentheses and 'not' share the budget.
    std::string mixed;
    for (int i = 0; i < kMaxConditionDepth / 2; ++i) mixed += "not (";
    mixed += "not a";
    for (int i = 0; i < kMaxConditionDepth / 2; ++i) mixed += ")";
    EXPECT_EQ(errorOf(mixed), "1:161: nesting deeper than 64 levels");
    // Precedence nests groups without parentheses: each level below is an 'or' holding an 'and'.
    std::string implicit;
    for (int i = 0; i < 32; ++i) implicit += "a or b and (";
    implicit += "c";
    for (int i = 0; i < 32; ++i) implicit += ")";
    EXPECT_TRUE(Condition::parse(implicit, kNames).ok());
    std::string too_deep = "c and (" + implicit + ")";  // 65: reported at the innermost 'and'
    ASSERT_EQ(too_deep.rfind("and") + 1, 387u);
    EXPECT_EQ(errorOf(too_deep), "1:387: nesting deeper than 64 levels");
    // Depth returns on ')': many sibling groups are fine, as are long flat chains.
    std::string siblings = "(a)";
    for (int i = 0; i < 1000; ++i) siblings += " and ((((b))))";
    EXPECT_TRUE(Condition::parse(siblings, kNames).ok());
    std::string chain = "a";
    for (int i = 0; i < 100000; ++i) chain += i % 2 ? " and b" : " or c";
    auto c = mustParse(chain);
    EXPECT_TRUE(c.eval({true, false, false, false}));
}

TEST(Condition, ShortCircuit) {
    const std::vector<std::string> names = {"a", "b", "c", "d"};
    std::vector<size_t> calls;
    auto record = [&calls](const std::vector<bool>& values) {
        return [&calls, values](size_t i) {
            calls.push_back(i);
            return static_cast<bool>(values[i]);
        };
    };
    auto c = mustParse("a and (b or c) and not d", names);
    EXPECT_FALSE(c.eval(record({false, true, true, true})));
    EXPECT_EQ(calls, (std::vector<size_t>{0}));  // a false: nothing else is needed
    calls.clear();
    EXPECT_TRUE(c.eval(record({true, true, false, false})));
    EXPECT_EQ(calls, (std::vector<size_t>{0, 1, 3}));  // b true: c is not needed
    calls.clear();
    EXPECT_FALSE(c.eval(record({true, false, false, false})));
    EXPECT_EQ(calls, (std::vector<size_t>{0, 1, 2}));

    auto one = mustParse("1 of them", names);
    calls.clear();
    EXPECT_TRUE(one.eval(record({false, true, true, true})));
    EXPECT_EQ(calls, (std::vector<size_t>{0, 1}));
    auto all = mustParse("all of them", names);
    calls.clear();
    EXPECT_FALSE(all.eval(record({true, false, true, true})));
    EXPECT_EQ(calls, (std::vector<size_t>{0, 1}));
}

TEST(Condition, LazyFormComputesEachNameOnce) {
    auto c = mustParse("(a or b) and (not a or c) and 1 of them");
    std::vector<int> count(4);
    bool r = c.eval([&count](size_t i) {
        ++count[i];
        return i != 1;
    });
    EXPECT_TRUE(r);
    EXPECT_EQ(count, (std::vector<int>{1, 0, 1, 0}));
    // Over 64 names the memo switches representation; same guarantee.
    std::vector<std::string> many;
    many.reserve(100);
    for (int i = 0; i < 100; ++i) many.push_back("n" + std::to_string(i));
    auto big = mustParse("(n99 or n1) and n99 and all of n9*", many);
    std::vector<int> big_count(100);
    EXPECT_TRUE(big.eval([&big_count](size_t i) {
        ++big_count[i];
        return true;
    }));
    for (size_t i = 0; i < big_count.size(); ++i) EXPECT_LE(big_count[i], 1) << i;
    EXPECT_EQ(big_count[99], 1);
    EXPECT_EQ(big_count[90], 1);
    EXPECT_EQ(big_count[1], 0);
}

TEST(Condition, LazyAndVectorFormsAgree) {
    for (const char* text : {"a or b and c", "not a and b", "(a or b) and not (c or not d)",
                             "1 of them and not all of them", "a and a or not a and b"}) {
        auto c = mustParse(text);
        EXPECT_EQ(truthTable(c, 4), lazyTruthTable(c, 4)) << text;
    }
}

TEST(Condition, Referenced) {
    const std::vector<std::string> names = {"s1", "s2", "f1", "unused"};
    EXPECT_EQ(mustParse("f1 and 1 of s* and not f1", names).referenced(),
              (std::vector<size_t>{0, 1, 2}));
}

TEST(Condition, DuplicateNamesUseTheFirst) {
    auto c = mustParse("x", {"x", "x"});
    EXPECT_EQ(c.referenced(), (std::vector<size_t>{0}));
}

TEST(Condition, ToStringGoldensRoundTrip) {
    const std::vector<std::string> names = {"selection", "sel_cli", "filter_1", "filter_2",
                                            "keywords"};
    const std::vector<std::pair<std::string, std::string>> goldens = {
        {"selection", "selection"},
        {"selection and not filter_1", "(selection and not filter_1)"},
        {"selection AND NOT 1 OF filter_*", "(selection and not 1 of filter_*)"},
        {"all of sel* or keywords", "(all of sel* or keywords)"},
        {"(selection or sel_cli) and not (filter_1 or filter_2)",
         "((selection or sel_cli) and not (filter_1 or filter_2))"},
        {"any of them", "1 of them"},
        {"((selection))", "selection"},
        {"not not keywords", "not not keywords"},
        {"selection and (sel_cli and (keywords))", "(selection and sel_cli and keywords)"},
        {"selection or\n    sel_cli and keywords", "(selection or (sel_cli and keywords))"},
    };
    for (const auto& [text, golden] : goldens) {
        auto c = mustParse(text, names);
        EXPECT_EQ(c.toString(), golden) << text;
        auto again = mustParse(c.toString(), names);
        EXPECT_EQ(again.toString(), golden) << text;
        EXPECT_EQ(truthTable(again, names.size()), truthTable(c, names.size())) << text;
    }
}

}  // namespace
}  // namespace vigil::hub
