// `vigilctl up|down|status`: the all-in-one stack on one machine (DESIGN.md §2): discovery,
// center (embedded bus), hub, manager (SQLite) and a local agent, as detached processes with
// their data, configuration, logs and pid files under one data directory (docs/vigilctl.md).
//   vigilctl up     [--data DIR] [--ports BASE | --manager-port N ...] [--no-agent]
//                   [--build-dir DIR] [--foreground]
//   vigilctl down   [--data DIR]
//   vigilctl status [--data DIR]      exit 0 when every service runs, 3 otherwise
#pragma once

#include <CLI/CLI.hpp>

namespace vigil::vigilctl {

// Adds up, down and status to `app`; `exit_code` receives the result of the one that ran.
void addStackCommands(CLI::App& app, int& exit_code);

}  // namespace vigil::vigilctl
