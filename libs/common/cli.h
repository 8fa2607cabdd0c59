// The flags every Vigil daemon has and what they do before it starts: -V/--version,
// --print-config (a commented example), --check-config (validate, exit 0 or 2), and the exit
// code 2 with every configuration problem on stderr. Header-only (CLI11 is header-only).
//
// The log flags and logging set-up too (addLogFlags, initLogging). In a main():
//
//   cli::StandardFlags std_flags;
//   cli::addStandardFlags(app, std_flags);
//   cli::addLogFlags(app, flags.log_level, flags.log_file);
//   CLI11_PARSE(app, argc, argv);
//   auto info = cli::infoExit(std_flags, "vigil-center", VIGIL_VERSION, exampleCenterConfig);
//   if (info) return *info;
//   auto cfg = loadCenterConfig(path, flags);
//   if (auto rc = cli::configExit(cfg, std_flags, "vigil-center")) return *rc;
//   if (auto rc = cli::initLogging("vigil-center", cfg->log_level, cfg->log_file)) return *rc;
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/common/result.h"

namespace vigil::cli {

struct StandardFlags {
    bool version = false;
    bool print_config = false;
    bool check_only = false;
};

inline void addStandardFlags(CLI::App& app, StandardFlags& f) {
    app.add_flag("--check-config", f.check_only,
                 "Validate the configuration and exit (0 = valid, 2 = invalid)");
    app.add_flag("--print-config", f.print_config,
                 "Print a commented example configuration and exit");
    app.add_flag("-V,--version", f.version, "Print the version and exit");
}

// --log-level and --log-file (overriding the configuration's log section).
inline void addLogFlags(CLI::App& app, std::string& level, std::string& file) {
    app.add_option("--log-level", level, "trace, debug, info, warn, error or off");
    app.add_option("--log-file", file, "Log file (\"-\" = stderr only)");
}

// --version or --print-config: prints and returns 0; otherwise nullopt (go on).
inline std::optional<int> infoExit(const StandardFlags& f, const char* program, const char* version,
                                   std::string (*example_config)()) {
    if (f.version) {
        std::printf("%s %s\n", program, version);
        return 0;
    }
    if (f.print_config) {
        std::fputs(example_config().c_str(), stdout);
        return 0;
    }
    return std::nullopt;
}

// An invalid configuration: its problems on stderr, 2. --check-config: 0. Otherwise nullopt.
template <class Config>
std::optional<int> configExit(const Result<Config>& config, const StandardFlags& f,
                              const char* program) {
    if (!config.ok()) {
        std::fprintf(stderr, "%s: invalid configuration:\n%s\n", program, config.message().c_str());
        return 2;
    }
    if (f.check_only) {
        std::printf("configuration is valid\n");
        return 0;
    }
    return std::nullopt;
}

// Logging as configured ("" or "-": stderr only; a file's directory is made first): nullopt, or
// 2 with the reason on stderr.
inline std::optional<int> initLogging(const char* program, const std::string& level,
                                      const std::string& file) {
    log::Options lo;
    lo.level = level;
    if (!file.empty() && file != "-") {
        (void)fs::makeDirs(fs::dirName(file), 0700);
        lo.file = file;
    }
    std::string error;
    if (!log::init(lo, &error)) {
        std::fprintf(stderr, "%s: log: %s\n", program, error.c_str());
        return 2;
    }
    return std::nullopt;
}

}  // namespace vigil::cli
