// The `bus:` section of a service's YAML configuration (center, hub): one reading of every
// BusOptions key, so that the services accept the same keys with the same checks.
#pragma once

#include "libs/common/config.h"
#include "server/bus/bus.h"

namespace vigil::bus {

// Reads `b` (the bus section) into `out`, keeping out's values as defaults. Problems (unknown
// keys, bad values) are recorded on the node's document.
void readBusOptions(config::Node b, BusOptions& out);

}  // namespace vigil::bus
