// libFuzzer target for the rule condition language (server/hub/condition.h). Input: the first
// line is the defined names, comma separated; the rest is the condition text.
// Beyond "no crash, no hang", it checks that an error points inside the text, that the lazy and
// vector evaluators agree and that the lazy one asks only for referenced names, at most once
// each, and that toString() parses back to a condition with the same canonical form, the same
// references and the same results.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/hub/condition.h"

namespace {

using vigil::hub::CondError;
using vigil::hub::Condition;

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

std::vector<std::string> splitNames(std::string_view line) {
    std::vector<std::string> names;
    size_t start = 0;
    while (true) {
        size_t comma = line.find(',', start);
        names.emplace_back(line.substr(start, comma - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return names;
}

void checkError(const CondError& err, std::string_view text) {
    FUZZ_CHECK(!err.message.empty());
    FUZZ_CHECK(err.pos.line >= 1 && err.pos.column >= 1);
    // The position is within the text or just past its last line.
    int lines = 1;
    for (char c : text) lines += c == '\n';
    FUZZ_CHECK(err.pos.line <= lines);
    FUZZ_CHECK(static_cast<size_t>(err.pos.column) <= text.size() + 1);
}

// Value vectors: all false, all true, and a few patterns taken from the input bytes.
std::vector<std::vector<bool>> valueVectors(size_t n, const uint8_t* data, size_t size) {
    std::vector<std::vector<bool>> out;
    out.emplace_back(n, false);
    out.emplace_back(n, true);
    for (size_t k = 0; k < 4 && size > 0; ++k) {
        std::vector<bool> v(n);
        for (size_t i = 0; i < n; ++i) {
            v[i] = (data[(i * 7 + k * 13) % size] >> ((i + k) % 8)) & 1;
        }
        out.push_back(std::move(v));
    }
    return out;
}

void checkEval(const Condition& c, const std::vector<std::vector<bool>>& vectors,
               std::vector<bool>& results) {
    const std::vector<size_t> refs = c.referenced();
    std::vector<bool> is_ref(c.nameCount());
    for (size_t r : refs) {
        FUZZ_CHECK(r < c.nameCount());
        is_ref[r] = true;
    }
    for (const auto& values : vectors) {
        bool plain = c.eval(values);
        std::vector<uint8_t> calls(values.size());
        bool lazy = c.eval([&](size_t i) {
            FUZZ_CHECK(i < values.size() && is_ref[i]);
            FUZZ_CHECK(++calls[i] == 1);
            return static_cast<bool>(values[i]);
        });
        FUZZ_CHECK(plain == lazy);
        results.push_back(plain);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t newline = input.find('\n');
    std::string_view names_line = input.substr(0, newline);
    std::string_view text =
        newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
    const std::vector<std::string> names = splitNames(names_line);

    auto parsed = Condition::parseWithPos(text, names);
    if (const auto* err = std::get_if<CondError>(&parsed)) {
        checkError(*err, text);
        auto r = Condition::parse(text, names);
        FUZZ_CHECK(!r.ok() && r.message() == err->toString());
        return 0;
    }
    const Condition& c = std::get<Condition>(parsed);
    FUZZ_CHECK(c.nameCount() == names.size());
    const auto vectors = valueVectors(names.size(), data, size);
    std::vector<bool> results;
    checkEval(c, vectors, results);

    const std::string canonical = c.toString();
    auto again = Condition::parse(canonical, names);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->toString() == canonical);
    FUZZ_CHECK(again->referenced() == c.referenced());
    std::vector<bool> again_results;
    checkEval(*again, vectors, again_results);
    FUZZ_CHECK(again_results == results);
    return 0;
}
