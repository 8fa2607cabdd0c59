// The backend suite (bus_suite.cpp) against the embedded log.
#include "server/bus/test/bus_suite.h"

namespace vigil::bus::testing {

INSTANTIATE_TEST_SUITE_P(Embedded, BusSuite, ::testing::Values("embedded"));

}  // namespace vigil::bus::testing
