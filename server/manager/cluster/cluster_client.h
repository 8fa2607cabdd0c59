// The manager's view of the server cluster (DESIGN.md §1): finds centers, hubs, managers and the
// discovery replicas through vigil-discovery and calls their AK/SK-signed HTTP APIs (the
// centers' /conn/* and /command/, the hubs' /hub/stats) with timeouts. Also reads the
// `cluster:` configuration section. docs/manager.md "Services" describes what it reports.
// Thread-safety: every method may run on any thread (a new HTTP connection per call).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/common/config.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/common/auth.h"

namespace vigil::manager::cluster {

struct ClusterOptions {
    std::vector<std::string> discovery;  // replicas, host:port
    // Center admin APIs (host:port) used besides the ones discovery lists (e.g. no discovery).
    std::vector<std::string> centers;
    // Signs requests to the centers and hubs and verifies the centers' requests to the
    // manager's /internal/v1/ routes. Empty access key: requests go unsigned.
    server::AkSk key;
    std::map<std::string, std::string> keys;  // every accepted pair (access key -> secret key)
    std::chrono::milliseconds timeout{3000};  // connect and read, per request
    std::string center_name = "hids_svr_grpc";
    std::string hub_name = "vigil_hub";
    std::string manager_name = "vigil_manager";
    // Registration of this manager with discovery: the address others reach its API at
    // (host:port; empty: the HTTP listen address) and how often.
    std::string advertise;
    std::chrono::milliseconds register_interval{30000};

    bool configured() const { return !discovery.empty() || !centers.empty(); }
};

// Reads the optional `cluster:` section of `root` (problems are added to its document):
//   cluster:
//     discovery: [127.0.0.1:8088]
//     centers: [127.0.0.1:6752]
//     keys_file: /etc/vigil/keys.yaml    # "ak: sk" lines, as the other services' auth.keys_file
//     access_key: ""                     # which key signs (default: the first)
//     secret_key: ""                     # an inline pair with access_key instead of a file
//     timeout: 3s
//     advertise: ""
//     register_interval: 30s
void readClusterConfig(const config::Node& root, ClusterOptions& out);

// One registered instance as discovery lists it.
struct Instance {
    std::string name;
    std::string ip;
    int port = 0;
    int64_t weight = 0;
    std::string status;  // discovery's health colour (green ... red)
    nlohmann::json extra = nlohmann::json::object();
    std::string address() const;  // ip:port
};

// A center: its admin API address and, when discovery lists it, its registration.
struct Center {
    std::string api;      // host:port of the signed HTTP admin API
    std::string grpc;     // host:port agents dial (empty when only configured)
    int64_t weight = -1;  // agents connected as registered (-1: unknown)
    std::string status;
};

// Where each agent is connected: agent_id -> center API address; centers that did not answer.
struct AgentLocations {
    std::map<std::string, std::string> center_of;
    std::map<std::string, std::string> center_errors;  // api -> error
};

class ClusterClient {
public:
    // `metrics` (optional, must outlive this object) counts requests by result:
    // vigil_manager_cluster_requests_total{result="ok"|"error"}.
    explicit ClusterClient(ClusterOptions options, metrics::Registry* metrics = nullptr);

    const ClusterOptions& options() const { return options_; }

    // A signed request to `address` (host:port); the `data` of its {code,msg,data} answer, or an
    // error naming the address and the HTTP status or transport failure.
    Result<nlohmann::json> call(const std::string& address, const std::string& method,
                                const std::string& path, const std::string& body = {}) const;
    // An unsigned GET of `path`; OK on HTTP 200 (health checks).
    Status probe(const std::string& address, const std::string& path) const;

    // The instances registered as `name`, from the first replica that answers.
    Result<std::vector<Instance>> instances(const std::string& name) const;
    // Every center: the configured ones and the ones discovery lists (by API address). An
    // unreachable discovery is not an error while centers are configured; `problem` says why.
    std::vector<Center> centers(std::string* problem = nullptr) const;
    // Asks every center for its connected agents (GET /conn/list).
    AgentLocations locateAgents() const;

private:
    template <typename R>
    R counted(R result) const;
    Result<nlohmann::json> send(const std::string& address, const std::string& method,
                                const std::string& path, const std::string& body) const;

    ClusterOptions options_;
    metrics::Counter* ok_ = nullptr;
    metrics::Counter* errors_ = nullptr;
};

}  // namespace vigil::manager::cluster
