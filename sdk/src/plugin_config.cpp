// DETAIL parsing: a flat JSON object or key=value pairs, without a JSON library (plugins must
// stay small).
#include "vigil/sdk/plugin_config.h"

#include <charconv>
#include <cstdlib>

namespace vigil::sdk {
namespace {

bool isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class FlatJsonParser {
public:
    explicit FlatJsonParser(std::string_view s) : s_(s) {}

    Status parse(std::map<std::string, std::string>& out) {
        skipSpace();
        if (!eat('{')) return fail("expected '{'");
        skipSpace();
        if (eat('}')) return finish();
        for (;;) {
            skipSpace();
            std::string key;
            VIGIL_TRY(parseString(key));
            skipSpace();
            if (!eat(':')) return fail("expected ':' after key \"" + key + "\"");
            skipSpace();
            std::string value;
            VIGIL_TRY(parseValue(key, value));
            out[key] = std::move(value);
            skipSpace();
            if (eat(',')) continue;
            if (eat('}')) return finish();
            return fail("expected ',' or '}'");
        }
    }

private:
    Status finish() {
        skipSpace();
        if (pos_ != s_.size()) return fail("unexpected text after the object");
        return okStatus();
    }

    Status parseValue(const std::string& key, std::string& out) {
        if (pos_ >= s_.size()) return fail("missing value for \"" + key + "\"");
        const char c = s_[pos_];
        if (c == '"') return parseString(out);
        if (c == '{' || c == '[') {
            return fail("value of \"" + key + "\" is an object or array; only flat values allowed");
        }
        for (std::string_view word : {"true", "false", "null"}) {
            if (s_.substr(pos_, word.size()) == word) {
                pos_ += word.size();
                out = word == "null" ? "" : std::string(word);
                return okStatus();
            }
        }
        // Number: -?digits[.digits][(e|E)[+-]digits]
        const size_t start = pos_;
        eat('-');
        if (!digits()) return fail("bad value for \"" + key + "\"");
        if (eat('.') && !digits()) return fail("bad number for \"" + key + "\"");
        if (eat('e') || eat('E')) {
            if (!eat('+')) eat('-');
            if (!digits()) return fail("bad number for \"" + key + "\"");
        }
        out.assign(s_.substr(start, pos_ - start));
        return okStatus();
    }

    Status parseString(std::string& out) {
        if (!eat('"')) return fail("expected a string");
        while (pos_ < s_.size()) {
            const char c = s_[pos_++];
            if (c == '"') return okStatus();
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ >= s_.size()) break;
            const char e = s_[pos_++];
            switch (e) {
                case '"':
                    out.push_back('"');
                    break;
                case '\\':
                    out.push_back('\\');
                    break;
                case '/':
                    out.push_back('/');
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u':
                    VIGIL_TRY(parseUnicodeEscape(out));
                    break;
                default:
                    return fail(std::string("bad escape \\") + e);
            }
        }
        return fail("unterminated string");
    }

    Status parseUnicodeEscape(std::string& out) {
        uint32_t cp;
        VIGIL_TRY(hex4(cp));
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!eat('\\') || !eat('u')) return fail("unpaired surrogate");
            VIGIL_TRY(hex4(lo));
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return fail("unpaired surrogate");
        }
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
        return okStatus();
    }

    Status hex4(uint32_t& v) {
        if (s_.size() - pos_ < 4) return fail("short \\u escape");
        auto r = std::from_chars(s_.data() + pos_, s_.data() + pos_ + 4, v, 16);
        if (r.ec != std::errc() || r.ptr != s_.data() + pos_ + 4) return fail("bad \\u escape");
        pos_ += 4;
        return okStatus();
    }

    bool digits() {
        const size_t start = pos_;
        while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
        return pos_ > start;
    }
    bool eat(char c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void skipSpace() {
        while (pos_ < s_.size() && isSpace(s_[pos_])) ++pos_;
    }
    Error fail(const std::string& what) const {
        return Error{"DETAIL: " + what + " at offset " + std::to_string(pos_)};
    }

    std::string_view s_;
    size_t pos_ = 0;
};

Status parseKeyValues(std::string_view s, std::map<std::string, std::string>& out) {
    size_t pos = 0;
    while (pos < s.size()) {
        while (pos < s.size() && (isSpace(s[pos]) || s[pos] == ',' || s[pos] == ';')) ++pos;
        if (pos >= s.size()) break;
        size_t end = pos;
        while (end < s.size() && !isSpace(s[end]) && s[end] != ',' && s[end] != ';') ++end;
        const std::string_view item = s.substr(pos, end - pos);
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            return Error{"DETAIL: expected key=value, got \"" + std::string(item) + "\""};
        }
        out[std::string(item.substr(0, eq))] = std::string(item.substr(eq + 1));
        pos = end;
    }
    return okStatus();
}

}  // namespace

Result<PluginConfig> PluginConfig::parse(std::string_view detail) {
    PluginConfig config;
    size_t first = 0;
    while (first < detail.size() && isSpace(detail[first])) ++first;
    if (first < detail.size() && detail[first] == '{') {
        FlatJsonParser parser(detail);
        VIGIL_TRY(parser.parse(config.values_));
    } else {
        VIGIL_TRY(parseKeyValues(detail, config.values_));
    }
    return config;
}

Result<PluginConfig> PluginConfig::fromEnvironment() {
    const char* detail = std::getenv("DETAIL");
    return parse(detail ? std::string_view(detail) : std::string_view());
}

std::string PluginConfig::get(const std::string& key, std::string fallback) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::move(fallback) : it->second;
}

Result<int64_t> PluginConfig::getInt(const std::string& key, int64_t fallback, int64_t min,
                                     int64_t max) const {
    auto it = values_.find(key);
    if (it == values_.end()) return fallback;
    const std::string& s = it->second;
    int64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
        return Error{"DETAIL: " + key + " = \"" + s + "\" is not an integer"};
    }
    if (v < min || v > max) {
        return Error{"DETAIL: " + key + " = " + s + " is out of range [" + std::to_string(min) +
                     ", " + std::to_string(max) + "]"};
    }
    return v;
}

}  // namespace vigil::sdk
