// Process-wide stop signals for plugins: SIGTERM and SIGINT ask every Client to stop, SIGPIPE
// is ignored so a closed record pipe is an error code, not death.
#pragma once

#include "libs/common/result.h"

namespace vigil::sdk {

// Installs handlers for SIGTERM and SIGINT that set a process-wide flag and wake every Client
// through a self-pipe, and sets SIGPIPE to SIG_IGN. Call it once, early in main() and before
// constructing the Client (a Client notices a later installation within a second). Idempotent.
// The state is sticky: once a stop signal arrived, every Client in the process is stopped.
Status installSignalHandlers();

// True once SIGTERM or SIGINT was received after installSignalHandlers(). Async-signal-safe.
bool stopSignalReceived();

// The signal that stopped the process (SIGTERM or SIGINT), 0 when none.
int stopSignalNumber();

// Read end of the self-pipe: readable (and never drained) once a stop signal arrived; -1
// before installSignalHandlers(). For plugins that run their own poll loops.
int stopSignalFd();

}  // namespace vigil::sdk
