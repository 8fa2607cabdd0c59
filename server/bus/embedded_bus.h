// The embedded backend (default, one machine): a durable local log in BusOptions::dir, written
// by one process (EmbeddedWriter) and read by any process on the machine (EmbeddedConsumer).
// Format: log_format.h.
#pragma once

#include <memory>

#include "libs/common/metrics.h"
#include "server/bus/bus.h"

namespace vigil::bus {

Result<std::unique_ptr<Bus>> openEmbeddedBus(const BusOptions& options, metrics::Registry& metrics);

}  // namespace vigil::bus
