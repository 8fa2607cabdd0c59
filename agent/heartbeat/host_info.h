// Facts about the host for the agent heartbeat (1000) and the batch header: OS, kernel, DMI,
// addresses split into intranet/extranet, DNS, gateways, load and memory. Readers are
// stateless except HostCpu (keeps the previous /proc/stat sample; not thread-safe).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vigil::agent {

struct HostIdentity {
    std::string hostname;
    std::string kernel_version;
    std::string arch;
    std::string platform;          // os-release ID
    std::string platform_family;   // debian, rhel, suse, arch, alpine, ...
    std::string platform_version;  // os-release VERSION_ID
    std::string host_serial, host_id, host_model, host_vendor;  // DMI, empty when unreadable
    std::string cpu_name;
    uint32_t nproc = 0;
    uint64_t total_mem = 0;
    int64_t boot_time = 0;
};

struct HostAddresses {
    std::vector<std::string> intranet_ipv4, extranet_ipv4, intranet_ipv6, extranet_ipv6;
};

struct HostLoad {
    std::string load_1, load_5, load_15;
    std::string running_procs, total_procs;
    double mem_usage = 0;  // 0..1
};

// Roots are parameters so tests can point them at fixtures.
HostIdentity readHostIdentity(const std::string& proc_root = "/proc", const std::string& sys_root = "/sys",
                              const std::string& etc_root = "/etc");
// Addresses of every interface that is up, except loopback; private (RFC 1918, CGNAT,
// link-local, ULA) go to intranet, the rest to extranet.
HostAddresses readHostAddresses();
HostLoad readHostLoad(const std::string& proc_root = "/proc");
std::vector<std::string> readDnsServers(const std::string& resolv_conf = "/etc/resolv.conf");
std::vector<std::string> readDefaultGateways(const std::string& route_file = "/proc/net/route");
bool isPrivateIpv4(const std::string& ip);
bool isPrivateIpv6(const std::string& ip);

// Host CPU use between calls, 0..1.
class HostCpu {
public:
    double update(const std::string& proc_stat = "/proc/stat");

private:
    uint64_t last_total_ = 0, last_idle_ = 0;
    bool primed_ = false;
};

}  // namespace vigil::agent
