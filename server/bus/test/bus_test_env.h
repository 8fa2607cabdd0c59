// Test support for the bus: temporary directories, a real nats-server on loopback (the one in
// VIGIL_TEST_NATS_URL, else one this process starts), bus options per backend with names no
// other test shares, child processes that are always stopped, and fetch-until helpers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/bus/bus.h"

namespace vigil::bus::testing {

class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A nats-server -js process on 127.0.0.1 with its own store directory.
class NatsServer {
public:
    // The server every NATS test of this process uses: VIGIL_TEST_NATS_URL when set, else one
    // started here (stopped at exit). An error says what is missing; callers FAIL with it.
    static Result<std::string> sharedUrl();
    // Starts a server this test owns (it can stop and restart it).
    static Result<std::unique_ptr<NatsServer>> start();
    ~NatsServer();
    const std::string& url() const { return url_; }
    void stop();        // SIGTERM, then SIGKILL after 5 s
    Status restart();   // same port, same store

private:
    NatsServer() = default;
    Status launch();

    std::string binary_;
    TempDir store_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::string url_;
};

// Where nats-server is (PATH, /usr/sbin, ...), or empty.
std::string findNatsServer();

// Options for a fresh bus of `backend` ("embedded" in `dir`, or "nats" at `url` with a stream
// and subject prefix unique to this call).
BusOptions testOptions(const std::string& backend, const std::string& dir, const std::string& url);
// Deletes the NATS stream of `options` (best effort; tests sharing a server stay small).
void dropNatsStream(const BusOptions& options);

// Fetches until `count` deliveries arrived or `timeout` passed.
std::vector<Delivery> fetchAtLeast(Consumer& c, size_t count, std::chrono::milliseconds timeout,
                                   size_t batch = 1000);

// A child process that is killed (SIGKILL) and reaped when this object goes.
class Child {
public:
    // Runs argv with stdout into a pipe (readLine) and stderr inherited.
    static Result<std::unique_ptr<Child>> spawn(const std::vector<std::string>& argv);
    ~Child();
    pid_t pid() const { return pid_; }
    // One line of the child's stdout; false at end of file or after `timeout`.
    bool readLine(std::string& line, std::chrono::milliseconds timeout);
    void kill(int sig);
    // Exit status (as waitpid), waiting at most `timeout`; -1 on timeout.
    int wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    int out_fd_ = -1;
    std::string pending_;
    bool reaped_ = false;
};

// Agent-id-like keys, and values that say which message they are ("<key>#<seq>#aaaa...").
std::string agentKey(int agent);
std::string valueFor(const std::string& key, int seq, size_t size = 120);
// The seq a value from valueFor carries (-1 when it is not one).
int seqOf(const std::string& value);

// The directory of the running test binary (helper programs are built next to it).
std::string selfDir();

}  // namespace vigil::bus::testing
