// Runs a shell command to completion and captures what it prints (stdout; add 2>&1 for stderr)
// and its exit code. For tests of command-line behaviour (exit codes, error messages).
#pragma once

#include <string>

namespace vigil::testing {

struct CommandResult {
    int exit_code = -1;  // -1: could not run or killed by a signal
    std::string output;
};

CommandResult runCommand(const std::string& shell_command);

}  // namespace vigil::testing
