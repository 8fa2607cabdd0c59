// PluginConfig: the DETAIL string the agent passes to a plugin (its config "detail"), parsed
// into flat key -> value strings. Value type; not thread-safe to mutate, safe to share const.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "libs/common/result.h"

namespace vigil::sdk {

class PluginConfig {
public:
    // Accepted forms (Elkeid's DETAIL is usually JSON; key=value is handy by hand):
    //  - empty or blank: no keys;
    //  - a flat JSON object: {"interval_ms": 500, "name": "x", "on": true, "off": null}; values
    //    are strings, numbers, booleans or null, kept as text ("500", "x", "true", ""); nested
    //    objects and arrays are an error;
    //  - key=value pairs separated by commas, semicolons or whitespace: interval_ms=500,name=x.
    static Result<PluginConfig> parse(std::string_view detail);
    // parse() of the DETAIL environment variable (empty when unset).
    static Result<PluginConfig> fromEnvironment();

    bool has(const std::string& key) const { return values_.count(key) != 0; }
    std::string get(const std::string& key, std::string fallback = "") const;
    // The value as a decimal integer in [min, max]; fallback when absent; an error naming the
    // key when present but not such an integer.
    Result<int64_t> getInt(const std::string& key, int64_t fallback, int64_t min = INT64_MIN,
                           int64_t max = INT64_MAX) const;
    const std::map<std::string, std::string>& values() const { return values_; }

private:
    std::map<std::string, std::string> values_;
};

}  // namespace vigil::sdk
