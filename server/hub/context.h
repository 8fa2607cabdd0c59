// The hub's context (docs/hub.md "Running"): what the records of one agent say about its
// processes, used to enrich the records rules see. A process table per agent, built from exec
// records (59), the collector's process assets (5050: a process running before the driver saw
// it exec) and emptied by exit records (60): (agent_id, pid) -> {exe, argv, ppid}. Records
// that lack `parent_exe`, `ppid_argv`, `parent_stdin` or `pid_tree` get them from the table when
// it knows the parent; an alert carries the process lineage the table knows (lineage()).
// Bounded: an LRU over all agents (evictions counted). Not thread-safe: one per partition
// worker (an agent's records all go to one partition).
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vigil::hub {

class Event;

struct ProcessInfo {
    std::string exe;
    std::string argv;
    std::string ppid;
    std::string stdin;  // e.g. "socket:[123]": a descendant of a reverse shell inherits it
};

// Values the context added to an event (the event holds views into them).
struct ContextAdditions {
    std::string parent_exe, parent_argv, parent_stdin, pid_tree;
    void clear() {
        parent_exe.clear();
        parent_stdin.clear();
        parent_argv.clear();
        pid_tree.clear();
    }
};

// One process of a lineage, the event's own first.
struct LineageNode {
    std::string pid, exe, argv;
};

struct ContextOptions {
    size_t max_processes = 200000;
};

struct ContextStats {
    uint64_t inserted = 0;
    uint64_t removed = 0;   // exit records
    uint64_t evicted = 0;   // LRU
    uint64_t enriched = 0;  // parent_exe added
    uint64_t parent_misses = 0;
    uint64_t assets = 0;  // processes learnt from the collector's assets (5050)
};

class Context {
public:
    explicit Context(ContextOptions options = {}) : options_(options) {}

    // Adds what the context knows to `event` (fields that are absent only). Added values are
    // kept in `storage` (the event holds views), which must outlive the evaluation.
    void enrich(Event& event, ContextAdditions& storage);
    // Updates the process table from `event` (exec, process asset: insert; exit: remove).
    // Call after enrich.
    void observe(const Event& event);
    // The event's process, then its ancestors as far as the table knows them (at most
    // `max_depth` nodes; stops at a loop or pid 0/1's parent).
    std::vector<LineageNode> lineage(const Event& event, size_t max_depth = 16);

    const ProcessInfo* find(std::string_view agent_id, std::string_view pid);
    size_t size() const { return index_.size(); }
    const ContextStats& stats() const { return stats_; }

private:
    // The parent's entry, else (a fork that never exec'd) the nearest ancestor in the event's
    // pid_tree that the table knows; nullptr when none.
    // `found_pid` (optional) gets its pid.
    const ProcessInfo* nearestAncestor(const Event& event, std::string* found_pid = nullptr);
    static std::string key(std::string_view agent_id, std::string_view pid);
    using Entry = std::pair<std::string, ProcessInfo>;
    ContextOptions options_;
    std::list<Entry> lru_;  // most recent first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
    ContextStats stats_;
};

}  // namespace vigil::hub
