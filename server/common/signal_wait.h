// Waiting for SIGTERM/SIGINT in a server's main thread: block the signals before any thread
// starts (threads inherit the mask), then sigwait for one. Call both from the main thread.
#pragma once

namespace vigil::server {

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and every thread it starts later).
void blockTerminationSignals();
// Waits for SIGTERM, SIGINT or SIGHUP; returns its number.
int waitForTerminationSignal();

}  // namespace vigil::server
