// TestPki and ensureDevPki: certificate sets for tests and vigil-testcenter.
#include "tests/support/test_pki.h"

#include <unistd.h>

#include "libs/common/fs.h"

namespace vigil::testing {
namespace {

Status generateInto(const std::string& dir, const std::string& agent_cn, pki::CertKey& ca,
                    pki::CertKey& center, pki::CertKey& agent) {
    auto c = pki::createCa("Vigil Test CA", 365);
    if (!c.ok()) return c.error();
    ca = *c;
    auto s = pki::issue(ca, {.common_name = "vigil-center",
                             .usage = pki::Usage::kServer,
                             .dns_names = {"vigil-center", "localhost"},
                             .ip_addresses = {"127.0.0.1"}});
    if (!s.ok()) return s.error();
    center = *s;
    auto a = pki::issue(ca, {.common_name = agent_cn, .usage = pki::Usage::kClient});
    if (!a.ok()) return a.error();
    agent = *a;
    VIGIL_TRY(pki::writePem(ca, dir + "/ca.pem", dir + "/ca.key"));
    VIGIL_TRY(pki::writePem(center, dir + "/center.pem", dir + "/center.key"));
    VIGIL_TRY(pki::writePem(agent, dir + "/agent.pem", dir + "/agent.key"));
    return okStatus();
}

}  // namespace

TestPki::TestPki(const std::string& agent_id) : agent_id_(agent_id) {
    char tmpl[] = "/tmp/vigil-pki-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        error_ = "cannot create a temp directory";
        return;
    }
    dir_ = tmpl;
    Status st = generateInto(dir_, agent_id_, ca_, center_, agent_);
    if (!st.ok()) {
        error_ = st.message();
        return;
    }
    auto rogue_ca = pki::createCa("Rogue CA", 30);
    if (!rogue_ca.ok()) {
        error_ = rogue_ca.message();
        return;
    }
    rogue_ca_ = *rogue_ca;
    // Same CN as the real agent: only the issuer differs.
    auto rogue = pki::issue(rogue_ca_, {.common_name = agent_id_, .usage = pki::Usage::kClient});
    if (!rogue.ok()) {
        error_ = rogue.message();
        return;
    }
    rogue_agent_ = *rogue;
    Status w1 = pki::writePem(rogue_ca_, rogueCaFile(), dir_ + "/rogue-ca.key");
    Status w2 = pki::writePem(rogue_agent_, rogueAgentCertFile(), rogueAgentKeyFile());
    if (!w1.ok())
        error_ = w1.message();
    else if (!w2.ok())
        error_ = w2.message();
}

TestPki::~TestPki() {
    if (!dir_.empty()) (void)fs::removeAll(dir_);
}

FakeCenterOptions TestPki::centerOptions() const {
    FakeCenterOptions o;
    o.ca_pem = ca_.cert_pem;
    o.cert_pem = center_.cert_pem;
    o.key_pem = center_.key_pem;
    return o;
}

Status ensureDevPki(const std::string& dir, const std::string& agent_cn) {
    if (fs::exists(dir + "/ca.pem")) return okStatus();
    VIGIL_TRY(fs::makeDirs(dir, 0700));
    pki::CertKey ca, center, agent;
    return generateInto(dir, agent_cn, ca, center, agent);
}

}  // namespace vigil::testing
