// FakeDiscovery: a vigil-discovery stand-in for tests. An HTTP server on 127.0.0.1 answering
// GET /registry/detail?name=&count= in Elkeid's JSON shape with a configurable list of centers.
// Thread-safety: every method is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/result.h"

namespace vigil::testing {

struct DiscoveryEntry {
    std::string ip;
    int port = 0;
    double weight = 0;  // load (connections) reported for the center
};

class FakeDiscovery {
public:
    FakeDiscovery();
    ~FakeDiscovery();
    FakeDiscovery(const FakeDiscovery&) = delete;
    FakeDiscovery& operator=(const FakeDiscovery&) = delete;

    Status start();  // on a free port of 127.0.0.1
    void stop();
    int port() const;
    std::string address() const;  // "127.0.0.1:<port>"

    // The centers answered for every service name, in this order (the client sorts by weight).
    void setCenters(std::vector<DiscoveryEntry> centers);
    // Answer with this HTTP status and body instead (error paths); status 0 restores normal
    // answers.
    void setRawAnswer(int status, std::string body);

    uint64_t requests() const;
    std::string lastName() const;   // the name= of the last request
    std::string lastCount() const;  // the count= of the last request

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::testing
