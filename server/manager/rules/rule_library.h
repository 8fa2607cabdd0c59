// The managed rules directory (docs/manager.md "Rules"): what the hubs load, as the manager
// changes it, listed with the other rule paths the hubs load (`hub_paths`, the built-in rules).
// Rules are read with the hub's own loader (vigil_hub_rules); every change is staged
// in a copy of the directory, validated there by `vigil-hub check` (a child process, so the
// hub's exact verdict), then put in place by rename, so a hub reloading at any moment sees the
// old set or the new one. Rules, managed or built-in, are disabled through the managed
// directory's `.disabled` list, which the hub's loader applies to every rule it loads.
// Thread-safety: every method may run on any thread; changes are serialised by a mutex (one
// manager per directory: with several managers, make one of them the writer).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libs/common/result.h"
#include "server/manager/rules/rules_config.h"

namespace vigil::manager::rules {

struct RuleInfo {
    std::string id;
    std::string name;
    std::string kind;  // "vigil" or "sigma"
    std::string severity;
    std::vector<int32_t> data_types;
    std::string source;  // "managed" (the managed directory) or "builtin" (hub_paths)
    std::string file;    // managed: the pack file, relative to the directory; builtin: its path
    int line = 0;
    bool enabled = true;
    bool whitelist = false;
    std::vector<std::string> applies_to;
    std::string description;
    std::vector<std::string> mitre;
};

struct RuleListing {
    std::vector<RuleInfo> rules;           // in load order: managed, then builtin (files sorted)
    std::vector<std::string> diagnostics;  // "file:line:col: error: ..." of the managed files
    std::vector<std::string> packs;        // pack names (file names without .yaml/.yml)
};

// The verdict of `vigil-hub check` on a staged change.
struct CheckReport {
    bool ok = false;
    int exit_code = -1;
    // Its diagnostics, paths relative to the managed directory ("pack.yaml:3:5: error: ...").
    std::vector<std::string> diagnostics;
    std::string summary;  // "N loaded, M failed"
};

// What RuleLibrary::setEnabled did.
enum class EnableResult {
    kNoSuchRule,         // no managed or builtin rule has that id
    kChanged,            // the .disabled list changed
    kUnchanged,          // it already was as asked
    kDisabledElsewhere,  // to enable: disabled by a list of hub_paths, not the managed one
};

// A pack name: 1-64 of [A-Za-z0-9._-], starting with a letter or digit; a trailing .yaml or
// .yml is dropped. Empty when invalid.
std::string packName(std::string_view text);

class RuleLibrary {
public:
    explicit RuleLibrary(RulesConfig config);

    const RulesConfig& config() const { return config_; }
    std::string hubBin() const;

    // Every rule of the managed directory and of hub_paths (re-read only when a file changed).
    Result<RuleListing> list();
    // Adds `id` to or removes it from the managed directory's .disabled list; the rule may be
    // managed or builtin.
    Result<EnableResult> setEnabled(const std::string& id, bool enabled);
    // Validates the directory with `<name>.yaml` = `text` (added or replaced) and installs it
    // when the check passes. An error is an environment failure (vigil-hub not runnable, disk).
    Result<CheckReport> installPack(const std::string& name, std::string_view text);
    // A .tar.gz of rule files (*.yaml, *.yml at any depth, sorted by path) installed as the one
    // pack `<name>.yaml`: the files joined as YAML documents, each after a "# from: <path>"
    // line. Diagnostics name the archive's files ("<name>.tar.gz/dir/x.yaml:3:5: ...").
    // Bounded: 1000 files, 64 MiB unpacked.
    Result<CheckReport> installArchive(const std::string& name, std::string_view tar_gz);
    // Removes the pack when the rest still passes the check; nullopt when there is no such pack.
    Result<std::optional<CheckReport>> removePack(const std::string& name);

private:
    // Copies the managed directory into a staging directory inside it, applies `changes` (file
    // name -> new text, or nullopt to remove) and runs the check there.
    Result<CheckReport> check(const std::map<std::string, std::optional<std::string>>& changes);
    Result<std::string> packFile(const std::string& name) const;  // existing file, or ""
    // installPack without the lock; `report` rewrites the check's diagnostics (archives).
    Result<CheckReport> installLocked(const std::string& pack, std::string_view text,
                                      const std::function<std::string(std::string)>& report);

    RulesConfig config_;
    std::mutex mu_;  // changes and the listing cache
    std::string cache_key_;
    RuleListing cache_;
};

}  // namespace vigil::manager::rules
