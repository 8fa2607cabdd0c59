// The NATS JetStream backend (distributed deployments): one stream holding
// <prefix>.<partition>.<family>, batched asynchronous publishing (nats_producer.h, framing in
// nats_framing.h) and per-partition durable pull consumers (nats_consumer.h).
#pragma once

#include <memory>

#include "libs/common/metrics.h"
#include "server/bus/bus.h"

namespace vigil::bus {

Result<std::unique_ptr<Bus>> openNatsBus(const BusOptions& options, metrics::Registry& metrics);

}  // namespace vigil::bus
