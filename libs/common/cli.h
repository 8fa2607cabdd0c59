// The flags every Vigil daemon has and what they do before it starts: -V/--version,
// --print-config (a commented example), --check-config (validate, exit 0 or 2), and the exit
// code 2 with every configuration problem on stderr. Header-only (CLI11 is header-only).
//
//   cli::StandardFlags std_flags;
//   cli::addStandardFlags(app, std_flags);
//   CLI11_PARSE(app, argc, argv);
//   if (auto rc = cli::infoExit(std_flags, "vigil-center", VIGIL_VERSION, exampleCenterConfig)) return *rc;
//   auto cfg = loadCenterConfig(path, flags);
//   if (auto rc = cli::configExit(cfg, std_flags, "vigil-center")) return *rc;
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

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

}  // namespace vigil::cli
