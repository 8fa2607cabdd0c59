// The backend suite (bus_suite.cpp) against a real nats-server -js on loopback
// (VIGIL_TEST_NATS_URL, or one the test starts; the cases fail when neither is possible).
#include "server/bus/test/bus_suite.h"

namespace vigil::bus::testing {

INSTANTIATE_TEST_SUITE_P(Nats, BusSuite, ::testing::Values("nats"));

}  // namespace vigil::bus::testing
