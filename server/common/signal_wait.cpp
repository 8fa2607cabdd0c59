// sigwait-based shutdown signal handling for the servers' main threads.
#include "server/common/signal_wait.h"

#include <pthread.h>
#include <signal.h>

namespace vigil::server {
namespace {

sigset_t terminationSet() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    return set;
}

}  // namespace

void blockTerminationSignals() {
    sigset_t set = terminationSet();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int waitForTerminationSignal() {
    sigset_t set = terminationSet();
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
}

}  // namespace vigil::server
