// Configuration loading with errors a person can act on: every problem names the key path,
// the file position and what is wrong. Readers never throw; they collect problems so that one
// run reports all of them. Not thread-safe (used at start-up and on reload).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "libs/common/fs.h"
#include "libs/common/result.h"

namespace vigil::config {

struct Problem {
    std::string file;
    int line = 0;     // 1-based; 0 when unknown
    int column = 0;   // 1-based; 0 when unknown
    std::string key;  // dotted path, e.g. "transport.batch.max_records"
    std::string message;

    std::string toString() const;
};

class Problems {
public:
    void add(Problem p) { list_.push_back(std::move(p)); }
    bool empty() const { return list_.empty(); }
    const std::vector<Problem>& list() const { return list_; }
    // All problems, one per line.
    std::string toString() const;

private:
    std::vector<Problem> list_;
};

// A view of one YAML mapping with typed getters. Missing keys yield the default; keys of the
// wrong type or out of range add a Problem and yield the default.
class Node {
public:
    Node(YAML::Node node, std::string path, std::string file, std::shared_ptr<Problems> problems);

    bool has(std::string_view key) const;
    Node child(std::string_view key) const;  // a missing child behaves as an empty mapping
    const std::string& path() const { return path_; }
    const YAML::Node& yaml() const { return node_; }
    bool isMap() const { return node_.IsMap(); }
    bool isNull() const { return !node_ || node_.IsNull(); }

    std::string str(std::string_view key, std::string fallback = {}) const;
    int64_t integer(std::string_view key, int64_t fallback, int64_t min, int64_t max) const;
    double number(std::string_view key, double fallback, double min, double max) const;
    bool boolean(std::string_view key, bool fallback) const;
    // "100ms", "5s", "2m", "1h" or a bare number of seconds.
    std::chrono::milliseconds duration(
        std::string_view key, std::chrono::milliseconds fallback,
        std::chrono::milliseconds min = std::chrono::milliseconds(0)) const;
    // "512", "64KiB", "16MiB", "1GiB", "10MB" (decimal units also accepted).
    uint64_t size(std::string_view key, uint64_t fallback, uint64_t min = 0,
                  uint64_t max = UINT64_MAX) const;
    std::vector<std::string> strList(std::string_view key) const;
    // A list of mappings (e.g. plugin specs); each item's path is key[i].
    std::vector<Node> mapList(std::string_view key) const;
    // One of `choices`; anything else is a Problem.
    std::string oneOf(std::string_view key, std::string fallback,
                      std::initializer_list<std::string_view> choices) const;
    std::vector<std::string> keys() const;

    // Reports every key of this mapping that is not in `known` (catches typos).
    void allowOnly(std::initializer_list<std::string_view> known) const;
    // Adds a problem at this node (or at `key` below it).
    void problem(std::string_view key, std::string message) const;

private:
    std::string keyPath(std::string_view key) const;
    YAML::Node get(std::string_view key) const;
    void report(const YAML::Node& at, std::string_view key, std::string message) const;

    YAML::Node node_;
    std::string path_;
    std::string file_;
    std::shared_ptr<Problems> problems_;
};

// A parsed document plus the problems found while reading it.
class Document {
public:
    // Parses a YAML file. A syntax error yields an Error with file:line:column.
    static Result<Document> loadFile(const std::string& path);
    static Result<Document> loadString(const std::string& text,
                                       const std::string& name = "<string>");

    Node root() const { return Node(yaml_, "", file_, problems_); }
    const Problems& problems() const { return *problems_; }
    bool ok() const { return problems_->empty(); }

private:
    Document(YAML::Node yaml, std::string file)
        : yaml_(std::move(yaml)), file_(std::move(file)), problems_(std::make_shared<Problems>()) {}
    YAML::Node yaml_;
    std::string file_;
    std::shared_ptr<Problems> problems_;
};

// `config` when neither the document nor the command-line flags had a problem; else all of them.
template <class Config>
Result<Config> configOrProblems(Config config, const Document& doc, const Problems& flag_problems) {
    if (doc.ok() && flag_problems.empty()) return config;
    Problems all = doc.problems();
    for (const auto& p : flag_problems.list()) all.add(p);
    return Error{all.toString()};
}

// A daemon's configuration: `parse(text, path, flags)` of the file at `path` (at most 1 MiB),
// or of nothing (flags and defaults) when `path` is empty.
template <class Config, class Flags>
Result<Config> loadConfigFile(const std::string& path, const Flags& flags,
                              Result<Config> (*parse)(const std::string&, const std::string&,
                                                      const Flags&)) {
    if (path.empty()) return parse("", "command line", flags);
    auto text = fs::readFile(path, 1 << 20);
    if (!text.ok()) return text.error();
    return parse(*text, path, flags);
}

// Parsers shared with command-line flags.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);
std::optional<uint64_t> parseSize(std::string_view text);

}  // namespace vigil::config
