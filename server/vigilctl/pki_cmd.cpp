// vigilctl pki init|issue|show.
#include "server/vigilctl/pki_cmd.h"

#include <cstdio>
#include <ctime>

#include "libs/common/fs.h"
#include "libs/common/pki.h"

namespace vigil::vigilctl {
namespace {

struct PkiArgs {
    std::string dir;
    std::vector<std::string> center_dns{"vigil-center", "localhost"};
    std::vector<std::string> center_ip{"127.0.0.1"};
    bool force = false;
    std::string cn, out;
    bool server = false, client = false, both = false;
    std::vector<std::string> dns, ip;
    int days = 825;
    std::string show;
};

int fail(const std::string& msg) {
    std::fprintf(stderr, "vigilctl pki: %s\n", msg.c_str());
    return 1;
}

int runInit(const PkiArgs& a) {
    const std::string ca_cert = a.dir + "/ca.pem", ca_key = a.dir + "/ca.key";
    if (fs::exists(ca_cert) && !a.force) {
        std::printf("%s already exists; nothing done (use --force to replace the whole PKI)\n", ca_cert.c_str());
        return 0;
    }
    auto ca = pki::createCa("Vigil CA", 3650);
    if (!ca.ok()) return fail(ca.message());
    pki::IssueOptions center;
    center.common_name = "vigil-center";
    center.usage = pki::Usage::kServer;
    center.dns_names = a.center_dns;
    center.ip_addresses = a.center_ip;
    auto c = pki::issue(*ca, center);
    if (!c.ok()) return fail(c.message());
    pki::IssueOptions agent;
    agent.common_name = "vigil-agent";
    agent.usage = pki::Usage::kClient;
    auto ag = pki::issue(*ca, agent);
    if (!ag.ok()) return fail(ag.message());
    for (auto [ck, cert, key] : {std::tuple{&*ca, ca_cert, ca_key}, {&*c, a.dir + "/center.pem", a.dir + "/center.key"},
                                 {&*ag, a.dir + "/agent.pem", a.dir + "/agent.key"}}) {
        if (auto st = pki::writePem(*ck, cert, key); !st.ok()) return fail(st.message());
    }
    std::printf("PKI created in %s:\n  ca.pem, ca.key          the CA (keep ca.key offline)\n"
                "  center.pem, center.key  for vigil-center (SANs: %zu names, %zu IPs)\n"
                "  agent.pem, agent.key    a client certificate for agents\n",
                a.dir.c_str(), a.center_dns.size(), a.center_ip.size());
    return 0;
}

int runIssue(const PkiArgs& a) {
    if (a.cn.empty()) return fail("--cn is required");
    auto ca = pki::readPem(a.dir + "/ca.pem", a.dir + "/ca.key");
    if (!ca.ok()) return fail(ca.message() + " (run `vigilctl pki init --dir " + a.dir + "` first)");
    pki::IssueOptions o;
    o.common_name = a.cn;
    o.usage = a.both ? pki::Usage::kServerAndClient : a.server ? pki::Usage::kServer : pki::Usage::kClient;
    o.dns_names = a.dns;
    o.ip_addresses = a.ip;
    o.days = a.days;
    auto ck = pki::issue(*ca, o);
    if (!ck.ok()) return fail(ck.message());
    const std::string prefix = a.out.empty() ? a.dir + "/" + a.cn : a.out;
    if (auto st = pki::writePem(*ck, prefix + ".pem", prefix + ".key"); !st.ok()) return fail(st.message());
    std::printf("issued %s.pem and %s.key (CN %s, %s, %d days)\n", prefix.c_str(), prefix.c_str(), a.cn.c_str(),
                a.both ? "server+client" : a.server ? "server" : "client", a.days);
    return 0;
}

int runShow(const PkiArgs& a) {
    auto pem = fs::readFile(a.show, 1 << 20);
    if (!pem.ok()) return fail(pem.message());
    auto info = pki::inspect(*pem);
    if (!info.ok()) return fail(info.message());
    auto date = [](int64_t t) {
        char buf[32];
        std::time_t tt = static_cast<std::time_t>(t);
        std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", std::gmtime(&tt));
        return std::string(buf);
    };
    std::printf("subject CN  %s\nissuer CN   %s\nCA          %s\nvalid       %s .. %s UTC\nserial      %s\nsha256      %s\n",
                info->subject_cn.c_str(), info->issuer_cn.c_str(), info->is_ca ? "yes" : "no",
                date(info->not_before).c_str(), date(info->not_after).c_str(), info->serial_hex.c_str(),
                info->sha256_fingerprint.c_str());
    for (const auto& d : info->dns_names) std::printf("DNS         %s\n", d.c_str());
    for (const auto& i : info->ip_addresses) std::printf("IP          %s\n", i.c_str());
    return 0;
}

}  // namespace

int initPki(const std::string& dir) {
    PkiArgs args;
    args.dir = dir;
    return runInit(args);
}

void addPkiCommands(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<PkiArgs>();
    auto* pki = app.add_subcommand("pki", "Certificates for mTLS between agents and centers");
    pki->require_subcommand(1);
    auto* init = pki->add_subcommand("init", "Create a CA, a center certificate and an agent certificate");
    init->add_option("--dir", args->dir, "Directory for the PEM files")->required();
    init->add_option("--center-dns", args->center_dns, "DNS names of the center certificate");
    init->add_option("--center-ip", args->center_ip, "IP addresses of the center certificate");
    init->add_flag("--force", args->force, "Replace an existing PKI");
    init->callback([args, &exit_code] { exit_code = runInit(*args); });
    auto* issue = pki->add_subcommand("issue", "Issue a certificate signed by the CA in --dir");
    issue->add_option("--dir", args->dir, "Directory holding ca.pem and ca.key")->required();
    issue->add_option("--cn", args->cn, "Common name (agent id or service name)")->required();
    issue->add_flag("--server", args->server, "Server certificate (a center)");
    issue->add_flag("--client", args->client, "Client certificate (an agent; the default)");
    issue->add_flag("--both", args->both, "Server and client certificate");
    issue->add_option("--dns", args->dns, "subjectAltName DNS name");
    issue->add_option("--ip", args->ip, "subjectAltName IP address");
    issue->add_option("--out", args->out, "Output prefix (default DIR/CN): writes PREFIX.pem and PREFIX.key");
    issue->add_option("--days", args->days, "Validity in days")->check(CLI::Range(1, 3650));
    issue->callback([args, &exit_code] { exit_code = runIssue(*args); });
    auto* show = pki->add_subcommand("show", "Print a certificate's subject, SANs and validity");
    show->add_option("file", args->show, "Certificate (PEM)")->required();
    show->callback([args, &exit_code] { exit_code = runShow(*args); });
}

}  // namespace vigil::vigilctl
