// Integration-test harness for the server side: real vigil-discovery, vigil-center and
// vigil-agent processes on loopback, a test PKI, AK/SK keys, signed admin requests, and bus
// consumers reading what the centers appended. Not thread-safe; one per test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/bus/bus.h"
#include "tests/support/test_pki.h"

namespace vigil::testing {


// A child process with its output in a log file; stopped (SIGKILL) on destruction.
class Process {
public:
    Process(std::string name, std::vector<std::string> argv, std::string log_path);
    ~Process();
    bool start();
    int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    bool alive();
    pid_t pid() const { return pid_; }
    std::string log() const;
    // Waits until the log contains `text`.
    bool waitForLog(const std::string& text, std::chrono::milliseconds timeout) const;

private:
    std::string name_;
    std::vector<std::string> argv_;
    std::string log_path_;
    pid_t pid_ = -1;
};

struct BusRecord {
    std::string agent_id;
    int32_t data_type = 0;
    uint64_t batch_seq = 0;
    uint32_t batch_index = 0;
    std::map<std::string, std::string> fields;
    std::string get(const std::string& k) const {
        auto it = fields.find(k);
        return it == fields.end() ? std::string() : it->second;
    }
};

struct HttpResult {
    int status = 0;
    nlohmann::json body;
};

class StackHarness {
public:
    // backend "embedded" or "nats" (nats_url from the shared test server).
    explicit StackHarness(std::string backend = "embedded");
    ~StackHarness();

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    const TestPki& pki() const { return *pki_; }
    const std::string& dir() const { return dir_; }
    const std::string& backend() const { return backend_; }

    // Discovery on a free port.
    bool startDiscovery();
    int discoveryPort() const { return discovery_port_; }

    struct Center {
        std::unique_ptr<Process> process;
        int grpc_port = 0;
        int http_port = 0;
        std::string data_dir;
        std::string config_path;
        std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port); }
    };
    // Starts center i (0, 1, ...) registered with discovery (if started); `extra_yaml` is
    // appended to its config. Waits until it listens.
    bool startCenter(size_t i, const std::string& extra_yaml = "");
    Center& center(size_t i) { return centers_.at(i); }
    // Restarts a stopped center on the same ports and data dir.
    bool restartCenter(size_t i);

    struct AgentOptions {
        std::string agent_id;
        std::vector<std::string> centers;      // configured centers (fallback after discovery)
        bool use_discovery = true;
        std::string plugins_yaml;              // plugins.initial entries
        bool rogue_certificate = false;
    };
    // Installs the test plugin as `name` in the agent's work dir; returns its sha256.
    std::string installTestPlugin(const std::string& agent_id, const std::string& name);
    std::string pluginYaml(const std::string& agent_id, const std::string& name, const std::string& detail);
    bool startAgent(const AgentOptions& options);
    Process& agent(const std::string& agent_id) { return *agents_.at(agent_id); }
    std::string agentWorkDir(const std::string& agent_id) const { return dir_ + "/agent-" + agent_id; }

    // Signed (or unsigned) request to center i's admin API.
    HttpResult centerApi(size_t i, const std::string& method, const std::string& path, const std::string& body = "",
                         bool sign = true);
    std::vector<std::string> connectedAgents(size_t i);

    // Every record appended to the buses of the centers started so far (read with a consumer
    // group of this harness), in fetch order. `drain` reads everything available now.
    std::vector<BusRecord> busRecords();
    bool waitBus(const std::function<bool(const std::vector<BusRecord>&)>& pred, std::chrono::milliseconds timeout);
    // `vigilctl bus tail` arguments that read center i's bus (--dir, or --nats/--stream/--prefix).
    std::vector<std::string> busTailArgs(size_t i) const;

private:
    bus::BusOptions busOptions(const std::string& data_dir, bool writer) const;
    void pollBuses();

    std::string backend_;
    std::string error_;
    std::unique_ptr<TestPki> pki_;
    std::string dir_;
    std::string keys_file_;
    std::string nats_url_;
    std::string nats_prefix_;
    std::string nats_stream_;
    int discovery_port_ = 0;
    std::unique_ptr<Process> discovery_;
    std::vector<Center> centers_;
    std::map<std::string, std::unique_ptr<Process>> agents_;
    metrics::Registry metrics_;
    std::vector<std::unique_ptr<bus::Bus>> buses_;
    std::vector<std::unique_ptr<bus::Consumer>> consumers_;
    std::vector<std::string> consumer_dirs_;
    std::vector<BusRecord> records_;
};

}  // namespace vigil::testing
