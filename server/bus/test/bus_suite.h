// The bus test suite run against every backend (TEST_P over the backend name); each backend's
// test binary instantiates it (bus_suite_embedded_test.cpp, bus_suite_nats_test.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "libs/common/metrics.h"
#include "server/bus/bus.h"
#include "server/bus/test/bus_test_env.h"

namespace vigil::bus::testing {

class BusSuite : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override;
    void TearDown() override;
    // Opens (or reopens after close()) the bus under test.
    std::unique_ptr<Bus> openBus(bool writer = true);
    std::unique_ptr<Consumer> consumer(Bus& bus, ConsumerOptions options);

    bool nats() const { return GetParam() == "nats"; }

    TempDir dir_;
    BusOptions options_;
    metrics::Registry metrics_;
};

}  // namespace vigil::bus::testing
