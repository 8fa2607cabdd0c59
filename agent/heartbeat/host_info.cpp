// Host facts from /proc, /sys, /etc and getifaddrs.
#include "agent/heartbeat/host_info.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

namespace vigil::agent {
namespace {

std::string firstLine(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\r')) line.pop_back();
    return line;
}

std::map<std::string, std::string> readOsRelease(const std::string& etc_root) {
    std::map<std::string, std::string> kv;
    std::ifstream in(etc_root + "/os-release");
    if (!in) in.open("/usr/lib/os-release");
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string v = line.substr(eq + 1);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'')) v = v.substr(1, v.size() - 2);
        kv[line.substr(0, eq)] = v;
    }
    return kv;
}

std::string familyOf(const std::string& id, const std::string& id_like) {
    static const std::map<std::string, std::string> kFamilies = {
        {"debian", "debian"}, {"ubuntu", "debian"}, {"linuxmint", "debian"}, {"kali", "debian"},
        {"rhel", "rhel"},     {"centos", "rhel"},   {"fedora", "rhel"},      {"rocky", "rhel"},
        {"almalinux", "rhel"}, {"ol", "rhel"},      {"amzn", "rhel"},        {"opensuse", "suse"},
        {"sles", "suse"},     {"arch", "arch"},     {"alpine", "alpine"},    {"gentoo", "gentoo"}};
    auto it = kFamilies.find(id);
    if (it != kFamilies.end()) return it->second;
    std::istringstream like(id_like);
    std::string w;
    while (like >> w) {
        it = kFamilies.find(w);
        if (it != kFamilies.end()) return it->second;
    }
    return id;
}

}  // namespace

HostIdentity readHostIdentity(const std::string& proc_root, const std::string& sys_root, const std::string& etc_root) {
    HostIdentity h;
    struct utsname u;
    if (::uname(&u) == 0) {
        h.kernel_version = u.release;
        h.arch = u.machine;
        h.hostname = u.nodename;
    }
    auto os = readOsRelease(etc_root);
    h.platform = os["ID"];
    h.platform_family = familyOf(os["ID"], os["ID_LIKE"]);
    h.platform_version = os["VERSION_ID"];
    const std::string dmi = sys_root + "/class/dmi/id/";
    h.host_serial = firstLine(dmi + "product_serial");
    h.host_id = firstLine(dmi + "product_uuid");
    h.host_model = firstLine(dmi + "product_name");
    h.host_vendor = firstLine(dmi + "sys_vendor");
    std::ifstream cpu(proc_root + "/cpuinfo");
    std::string line;
    while (std::getline(cpu, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto colon = line.find(':');
            if (colon != std::string::npos) h.cpu_name = line.substr(std::min(line.size(), colon + 2));
            break;
        }
    }
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    h.nproc = n > 0 ? static_cast<uint32_t>(n) : 1;
    std::ifstream mem(proc_root + "/meminfo");
    while (std::getline(mem, line)) {
        if (line.rfind("MemTotal:", 0) == 0) {
            h.total_mem = std::stoull(line.substr(9)) * 1024;
            break;
        }
    }
    std::ifstream stat(proc_root + "/stat");
    while (std::getline(stat, line)) {
        if (line.rfind("btime ", 0) == 0) {
            h.boot_time = std::stoll(line.substr(6));
            break;
        }
    }
    return h;
}

bool isPrivateIpv4(const std::string& ip) {
    in_addr a;
    if (::inet_pton(AF_INET, ip.c_str(), &a) != 1) return false;
    uint32_t v = ntohl(a.s_addr);
    return (v >> 24) == 10 || (v >> 20) == (172u << 4 | 1) || (v >> 16) == (192u << 8 | 168) ||
           (v >> 22) == ((100u << 2) | 1) /* 100.64/10 */ || (v >> 16) == (169u << 8 | 254) ||
           (v >> 24) == 127;
}

bool isPrivateIpv6(const std::string& ip) {
    in6_addr a;
    if (::inet_pton(AF_INET6, ip.c_str(), &a) != 1) return false;
    return (a.s6_addr[0] & 0xfe) == 0xfc ||                         // fc00::/7 unique local
           (a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80) ||  // fe80::/10 link-local
           IN6_IS_ADDR_LOOPBACK(&a);
}

HostAddresses readHostAddresses() {
    HostAddresses out;
    struct ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return out;
    for (auto* i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
        char buf[INET6_ADDRSTRLEN];
        if (i->ifa_addr->sa_family == AF_INET) {
            auto* sin = reinterpret_cast<sockaddr_in*>(i->ifa_addr);
            ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
            std::string ip = buf;
            (isPrivateIpv4(ip) ? out.intranet_ipv4 : out.extranet_ipv4).push_back(ip);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            auto* sin6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
            ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
            std::string ip = buf;
            (isPrivateIpv6(ip) ? out.intranet_ipv6 : out.extranet_ipv6).push_back(ip);
        }
    }
    ::freeifaddrs(list);
    for (auto* v : {&out.intranet_ipv4, &out.extranet_ipv4, &out.intranet_ipv6, &out.extranet_ipv6}) {
        std::sort(v->begin(), v->end());
        v->erase(std::unique(v->begin(), v->end()), v->end());
    }
    return out;
}

HostLoad readHostLoad(const std::string& proc_root) {
    HostLoad l;
    std::ifstream in(proc_root + "/loadavg");
    std::string procs;
    in >> l.load_1 >> l.load_5 >> l.load_15 >> procs;
    auto slash = procs.find('/');
    if (slash != std::string::npos) {
        l.running_procs = procs.substr(0, slash);
        l.total_procs = procs.substr(slash + 1);
    }
    std::ifstream mem(proc_root + "/meminfo");
    std::string line;
    uint64_t total = 0, avail = 0;
    while (std::getline(mem, line)) {
        if (line.rfind("MemTotal:", 0) == 0) total = std::stoull(line.substr(9));
        else if (line.rfind("MemAvailable:", 0) == 0) avail = std::stoull(line.substr(13));
    }
    if (total > 0 && avail <= total) l.mem_usage = static_cast<double>(total - avail) / static_cast<double>(total);
    return l;
}

std::vector<std::string> readDnsServers(const std::string& resolv_conf) {
    std::vector<std::string> out;
    std::ifstream in(resolv_conf);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string key, value;
        if (ls >> key >> value && key == "nameserver") out.push_back(value);
    }
    return out;
}

std::vector<std::string> readDefaultGateways(const std::string& route_file) {
    std::vector<std::string> out;
    std::ifstream in(route_file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string iface, dest, gw;
        if (!(ls >> iface >> dest >> gw) || dest != "00000000") continue;
        uint32_t v = static_cast<uint32_t>(std::stoul(gw, nullptr, 16));
        in_addr a;
        a.s_addr = v;  // /proc/net/route is in host byte order of the network value
        char buf[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &a, buf, sizeof(buf));
        out.emplace_back(buf);
    }
    return out;
}

double HostCpu::update(const std::string& proc_stat) {
    std::ifstream in(proc_stat);
    std::string cpu;
    uint64_t v[10] = {};
    in >> cpu;
    for (auto& x : v) in >> x;
    uint64_t idle = v[3] + v[4];
    uint64_t total = 0;
    for (int i = 0; i < 8; ++i) total += v[i];
    double usage = 0;
    if (primed_ && total > last_total_) {
        usage = 1.0 - static_cast<double>(idle - last_idle_) / static_cast<double>(total - last_total_);
    }
    primed_ = true;
    last_total_ = total;
    last_idle_ = idle;
    return std::clamp(usage, 0.0, 1.0);
}

}  // namespace vigil::agent
