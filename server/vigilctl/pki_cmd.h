// `vigilctl pki`: the certificates for mTLS between agents and centers (DESIGN.md §5).
//   vigilctl pki init  --dir DIR [--center-dns NAME]... [--center-ip IP]... [--force]
//   vigilctl pki issue --dir DIR --cn NAME [--server|--client|--both] [--dns NAME]... [--ip IP]...
//                      [--out PREFIX] [--days N]
//   vigilctl pki show  FILE.pem
#pragma once

#include <CLI/CLI.hpp>

namespace vigil::vigilctl {

// Adds the pki subcommands to `app`; `exit_code` receives the result of the one that ran.
void addPkiCommands(CLI::App& app, int& exit_code);

// `vigilctl pki init --dir DIR` with the default SANs (vigil-center, localhost, 127.0.0.1):
// nothing when DIR/ca.pem exists. 0 on success, else 1 after printing the error.
int initPki(const std::string& dir);

}  // namespace vigil::vigilctl
