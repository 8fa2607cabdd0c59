// vigilctl: the Vigil command line: `pki` (certificates), `bus tail` (records on the bus),
// `up`, `down` and `status` (the all-in-one stack, docs/vigilctl.md).
#include <cstdio>

#include <CLI/CLI.hpp>

#include "server/vigilctl/bus_cmd.h"
#include "server/vigilctl/pki_cmd.h"
#include "server/vigilctl/up_cmd.h"

int main(int argc, char** argv) {
    CLI::App app{"vigilctl: administer a Vigil deployment"};
    app.require_subcommand(0, 1);
    bool version = false;
    app.add_flag("-V,--version", version, "Print the version and exit");
    int exit_code = 0;
    vigil::vigilctl::addPkiCommands(app, exit_code);
    vigil::vigilctl::addBusCommands(app, exit_code);
    vigil::vigilctl::addStackCommands(app, exit_code);
    CLI11_PARSE(app, argc, argv);
    if (version) {
        std::printf("vigilctl %s\n", VIGIL_VERSION);
        return 0;
    }
    if (app.get_subcommands().empty()) {
        std::fputs(app.help().c_str(), stderr);
        return 2;
    }
    return exit_code;
}
