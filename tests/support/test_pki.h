// TestPki: a throw-away PKI for mTLS tests, generated with vigil::pki in a fresh temp directory
// (removed on destruction): a CA, a center certificate (SANs vigil-center, localhost,
// 127.0.0.1), an agent client certificate, and a rogue CA with its own client certificate.
// Not thread-safe to construct; the accessors are const.
#pragma once

#include <string>

#include "libs/common/pki.h"
#include "tests/support/fake_center.h"

namespace vigil::testing {

class TestPki {
public:
    explicit TestPki(const std::string& agent_id = "agent-test");
    ~TestPki();
    TestPki(const TestPki&) = delete;
    TestPki& operator=(const TestPki&) = delete;

    // False (with error()) when generation failed; tests should ASSERT_TRUE(pki.ok()).
    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }

    const std::string& dir() const { return dir_; }
    const std::string& agentId() const { return agent_id_; }
    std::string caFile() const { return dir_ + "/ca.pem"; }
    std::string centerCertFile() const { return dir_ + "/center.pem"; }
    std::string centerKeyFile() const { return dir_ + "/center.key"; }
    std::string agentCertFile() const { return dir_ + "/agent.pem"; }
    std::string agentKeyFile() const { return dir_ + "/agent.key"; }
    std::string rogueCaFile() const { return dir_ + "/rogue-ca.pem"; }
    std::string rogueAgentCertFile() const { return dir_ + "/rogue-agent.pem"; }
    std::string rogueAgentKeyFile() const { return dir_ + "/rogue-agent.key"; }

    const pki::CertKey& ca() const { return ca_; }
    const pki::CertKey& center() const { return center_; }
    const pki::CertKey& agent() const { return agent_; }

    // FakeCenter options with this PKI's CA and center certificate.
    FakeCenterOptions centerOptions() const;

private:
    std::string agent_id_;
    std::string dir_;
    std::string error_;
    pki::CertKey ca_, center_, agent_, rogue_ca_, rogue_agent_;
};

// Generates a development PKI into `dir` unless ca.pem is already there: ca.pem/.key,
// center.pem/.key (SANs vigil-center, localhost, 127.0.0.1), agent.pem/.key (CN `agent_cn`).
Status ensureDevPki(const std::string& dir, const std::string& agent_cn = "vigil-agent");

}  // namespace vigil::testing
