// vigil-center configuration: YAML file plus command-line overrides; every problem names the
// key and position, and main exits 2 on any.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "libs/common/result.h"
#include "server/bus/bus.h"
#include "server/center/transfer_server.h"
#include "server/common/service_config.h"

namespace vigil::center {

struct CenterConfig {
    std::string config_file;
    std::string data_dir = "/var/lib/vigil-center";
    std::string product = "vigil-agent";         // object_name of agent tasks; the agent's config name
    TransferServerOptions grpc;
    size_t max_connections = 15000;
    std::string http_listen = "127.0.0.1:6752";
    size_t http_threads = 8;
    std::string ca_file, cert_file, key_file;
    std::string ticket_key_file;                 // default <data_dir>/tls/ticket.key; "off": none
    std::chrono::seconds ticket_key_max_age{7 * 24 * 3600};
    bool release_idle_tls_buffers = true;        // SSL_MODE_RELEASE_BUFFERS (tls_context.h)
    bus::BusOptions bus;
    std::vector<std::string> discovery;          // vigil-discovery replicas
    std::string advertise;                       // host:port agents dial; default: grpc listen
    std::string discovery_name = "hids_svr_grpc";
    std::chrono::milliseconds register_interval{30000};
    server::AuthSettings auth;
    std::string signing_access_key;              // which key signs our own requests
    std::string plugin_config;                   // plugin sets file; empty: none
    std::chrono::milliseconds plugin_reload_interval{5000};
    // plugins.manager: the plugin sets come from vigil-manager (GET /internal/v1/plugin-config,
    // signed with `plugin_manager_access_key` or the signing key) instead of a file.
    std::string plugin_manager_url;
    std::string plugin_manager_access_key;
    std::chrono::milliseconds plugin_manager_timeout{3000};
    std::string upload_dir;                      // default <data_dir>/uploads
    uint64_t max_upload_bytes = 1ull << 30;
    std::chrono::seconds upload_token_ttl{3600};
    std::chrono::milliseconds drain_timeout{10000};
    std::string log_level = "info";
    std::string log_file;                        // empty: <data_dir>/log/vigil-center.log; "-": stderr
};

struct CenterFlags {
    std::string data_dir, grpc_listen, http_listen, ca_file, cert_file, key_file, bus, nats_url, advertise,
        plugin_config, log_level, log_file, auth_keys_file, max_connections;
    std::vector<std::string> discovery;
    bool no_auth = false;
};

Result<CenterConfig> parseCenterConfig(const std::string& text, const std::string& name, const CenterFlags& flags);
Result<CenterConfig> loadCenterConfig(const std::string& path, const CenterFlags& flags);
std::string exampleCenterConfig();

}  // namespace vigil::center
