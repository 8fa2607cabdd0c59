// Registrar: keeps a service registered with vigil-discovery (DESIGN.md §1): POST
// /registry/register every interval with the current load as weight, signed with AK/SK, to
// every configured discovery replica; POST /registry/evict on stop(). Failures are logged and
// counted, never fatal: discovery may come up after the service.
// Thread-safety: start/stop from one thread; setWeight from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/metrics.h"
#include "server/common/auth.h"

namespace vigil::server {

struct RegistrarOptions {
    std::vector<std::string> discovery;  // host:port of each replica
    std::string name;                    // e.g. "hids_svr_grpc"
    std::string ip;                      // address agents should dial
    int port = 0;
    std::chrono::milliseconds interval{30000};
    AkSk key;  // empty access key: unsigned requests
    // Extra fields sent in "extra" (e.g. {"http_port": "6752"}).
    std::map<std::string, std::string> extra;
};

class Registrar {
public:
    Registrar(RegistrarOptions options, std::function<int()> weight, metrics::Registry& metrics);
    ~Registrar();
    void start();                 // registers now, then every interval
    void stop();                  // evicts from every replica and joins
    bool registeredOnce() const;  // at least one replica accepted a registration

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::server
