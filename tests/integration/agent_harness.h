// Integration-test harness: runs the real vigil-agent binary against an in-process FakeCenter
// over mTLS, with plugins installed from the plugin host's test plugin, and reads back what
// the center received as decoded records. Not thread-safe; one per test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/fake_center.h"
#include "tests/support/test_pki.h"

namespace vigil::testing {

struct DecodedRecord {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    uint64_t batch_seq = 0;
    std::map<std::string, std::string> fields;
    std::string get(const std::string& k) const {
        auto it = fields.find(k);
        return it == fields.end() ? std::string() : it->second;
    }
};

struct PluginInstall {
    std::string name;
    std::string detail;
    std::string version = "1";
};

class AgentHarness {
public:
    AgentHarness();
    ~AgentHarness();

    bool ok() const { return pki_->ok() && center_started_; }
    FakeCenter& center() { return *center_; }
    const std::string& agentId() const { return agent_id_; }
    const std::string& workDir() const { return work_dir_; }
    std::string agentBinary() const { return agent_bin_; }
    std::string configPath() const { return pki_->dir() + "/agent.yaml"; }

    // Config sections appended to the generated agent.yaml (e.g. plugins.initial entries).
    std::string initial_plugins_yaml;
    std::string extra_yaml;
    std::vector<std::string> extra_args;

    // Copies the test plugin into <work>/plugin/<name>/<name>; returns its sha256.
    std::string installTestPlugin(const std::string& name);
    // A plugins.initial entry for an installed test plugin.
    std::string pluginYaml(const PluginInstall& p);
    // The same for another plugin binary (e.g. the driver), copied in as <name>.
    std::string pluginYaml(const PluginInstall& p, const std::string& binary);
    // The sha256 of the test plugin binary.
    std::string testPluginSha256() const;

    // Writes agent.yaml and starts vigil-agent; false when it could not be spawned.
    bool startAgent();
    // Sends `sig` to the agent and waits for it to exit; returns its wait status.
    int stopAgent(int sig = 15, std::chrono::milliseconds timeout = std::chrono::seconds(20));
    pid_t agentPid() const { return agent_pid_; }
    bool agentAlive() const;
    std::string agentLog() const;

    // Every record the center received from this agent, in arrival order.
    std::vector<DecodedRecord> records() const;
    std::vector<DecodedRecord> recordsOf(int32_t data_type) const;
    // Waits until `pred(records())` holds.
    bool waitRecords(const std::function<bool(const std::vector<DecodedRecord>&)>& pred,
                     std::chrono::milliseconds timeout) const;
    // Waits for a record of `data_type` whose fields satisfy `pred`; returns it.
    bool waitRecord(int32_t data_type, const std::function<bool(const DecodedRecord&)>& pred,
                    std::chrono::milliseconds timeout, DecodedRecord* out = nullptr) const;

private:
    std::unique_ptr<TestPki> pki_;
    std::unique_ptr<FakeCenter> center_;
    bool center_started_ = false;
    std::string agent_id_;
    std::string work_dir_;
    std::string agent_bin_;
    pid_t agent_pid_ = -1;
    mutable int exit_status_ = -1;
};

bool processAlive(pid_t pid);

}  // namespace vigil::testing
