#include "tests/support/run_command.h"

#include <sys/wait.h>

#include <cstdio>

namespace vigil::testing {

CommandResult runCommand(const std::string& shell_command) {
    CommandResult r;
    FILE* p = ::popen(shell_command.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), p)) r.output.append(buf, n);
    const int status = ::pclose(p);
    if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    return r;
}

}  // namespace vigil::testing
