// `vigilctl bus tail`: prints the records on the bus as JSON lines (one per record: agent_id,
// hostname, data_type, times, batch position and the record's fields), following new ones.
//   vigilctl bus tail --dir DIR            the embedded bus of a center (<data_dir>/bus)
//   vigilctl bus tail --nats URL [--stream S] [--prefix P]
//   [--group G] [--from-start] [--count N] [--timeout 10s]
// The consumer group (default vigilctl-tail) keeps its position: a second tail continues where
// the first stopped; a new group starts at the end unless --from-start.
#pragma once

#include <CLI/CLI.hpp>

namespace vigil::vigilctl {

void addBusCommands(CLI::App& app, int& exit_code);

}  // namespace vigil::vigilctl
