// Shared pieces of the transport integration tests: an agent-side stack (spool, batcher,
// CenterClient, recording CommandHandler) wired to a FakeCenter over mTLS on loopback.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/spool/spool.h"
#include "agent/transport/batcher.h"
#include "agent/transport/center_client.h"
#include "libs/common/fs.h"
#include "libs/wire/record.h"
#include "proto/plugin.pb.h"
#include "proto/transfer.pb.h"
#include "tests/support/fake_center.h"
#include "tests/support/fake_discovery.h"
#include "tests/support/free_port.h"
#include "tests/support/test_pki.h"

namespace vigil::agent::test {

using namespace std::chrono_literals;

class RecordingHandler : public CommandHandler {
public:
    void onCommand(const wire::AgentCommand& command) override {
        std::lock_guard lock(mu_);
        commands_.push_back(command);
        cv_.notify_all();
    }
    void onConnected(const std::string& center, const std::string& net_mode) override {
        std::lock_guard lock(mu_);
        connections_.emplace_back(center, net_mode);
        cv_.notify_all();
    }
    std::vector<wire::AgentCommand> commands() {
        std::lock_guard lock(mu_);
        return commands_;
    }
    std::vector<std::pair<std::string, std::string>> connections() {
        std::lock_guard lock(mu_);
        return connections_;
    }
    bool waitForCommands(size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return commands_.size() >= n; });
    }
    bool waitForConnections(size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return connections_.size() >= n; });
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<wire::AgentCommand> commands_;
    std::vector<std::pair<std::string, std::string>> connections_;
};

inline TransportOptions baseOptions(const testing::TestPki& pki) {
    TransportOptions o;
    o.region = "test";
    o.regions["test"] = RegionEndpoints{};
    o.ca_file = pki.caFile();
    o.cert_file = pki.agentCertFile();
    o.key_file = pki.agentKeyFile();
    o.connect_timeout = 1000ms;
    o.backoff_initial = 100ms;
    o.backoff_max = 1000ms;
    return o;
}

// A Payload carrying {"i": <i>}.
inline std::string indexPayload(uint64_t i) {
    vigil::plugin::Payload p;
    (*p.mutable_fields())["i"] = std::to_string(i);
    return p.SerializeAsString();
}

inline int64_t indexOf(const std::string& payload) {
    std::map<std::string, std::string> fields;
    if (!wire::decodePayload(payload, fields) || !fields.count("i")) return -1;
    return std::stoll(fields["i"]);
}

// The agent side: spool + batcher + client.
struct Agent {
    Agent(TransportOptions options, const std::string& agent_id,
          BatcherOptions batcher_options = {}, std::string dir = "") {
        if (dir.empty()) {
            char tmpl[] = "/tmp/vigil-agent-XXXXXX";
            dir = ::mkdtemp(tmpl);
            owns_dir = true;
        }
        spool_dir = dir;
        auto s = Spool::open(
            {.dir = spool_dir, .max_bytes = 1ull << 30, .segment_bytes = 32ull << 20}, metrics);
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
        spool = std::move(*s);
        batcher = std::make_unique<Batcher>(batcher_options, *spool, metrics);
        wire::BatchHeader h;
        h.agent_id = agent_id;
        h.hostname = "test-host";
        batcher->setHeader(h);
        client = std::make_unique<CenterClient>(std::move(options), *spool, handler, metrics);
    }
    ~Agent() {
        client->stop();
        client.reset();
        batcher.reset();
        spool.reset();
        if (owns_dir) (void)fs::removeAll(spool_dir);
    }
    void putIndexed(uint64_t from, uint64_t to, int32_t data_type = 59) {
        for (uint64_t i = from; i < to; ++i)
            batcher->put(data_type, static_cast<int64_t>(i), indexPayload(i));
    }
    bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!cond()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(10ms);
        }
        return true;
    }

    metrics::Registry metrics;
    std::string spool_dir;
    bool owns_dir = false;
    std::unique_ptr<Spool> spool;
    std::unique_ptr<Batcher> batcher;
    RecordingHandler handler;
    std::unique_ptr<CenterClient> client;
};

// Every record index the center received from `agent_id` (with repeats).
inline std::vector<int64_t> receivedIndexes(const testing::FakeCenter& center,
                                            const std::string& agent_id) {
    std::vector<int64_t> out;
    for (const auto& b : center.batchesOf(agent_id)) {
        for (const auto& r : b.parseRecords()) out.push_back(indexOf(r.payload));
    }
    return out;
}

}  // namespace vigil::agent::test
