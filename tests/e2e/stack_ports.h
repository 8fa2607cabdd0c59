// Ports for a `vigilctl up --ports BASE` stack in a test: BASE..BASE+5 all free on loopback.
// Header-only (used by the e2e and the vigilctl integration tests).
#pragma once

#include "tests/support/free_port.h"

namespace vigil::testing {

// A base port whose next five are free too, or 0 when none was found.
inline int freeStackPortBase() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        const int base = freeLoopbackPort();
        if (base == 0 || base > 65000) continue;
        bool all = true;
        for (int i = 1; i < 6 && all; ++i) all = detail::loopbackPortFree(base + i);
        if (all) return base;
    }
    return 0;
}

}  // namespace vigil::testing
