#include "server/vigilctl/bus_cmd.h"

#include <csignal>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "libs/common/config.h"
#include "libs/common/metrics.h"
#include "libs/wire/record.h"
#include "proto/bus.pb.h"
#include "server/bus/bus.h"

namespace vigil::vigilctl {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void onSignal(int) { g_stop = 1; }

struct TailOptions {
    std::string dir, nats_url, stream = "VIGIL", prefix = "vigil.rec", group = "vigilctl-tail";
    std::string timeout = "0";
    bool from_start = false;
    uint64_t count = 0;
};

nlohmann::json toJson(const bus::Delivery& d, uint64_t& bad) {
    nlohmann::json j;
    vigil::bus::MQData mq;
    if (!mq.ParseFromString(d.value)) {
        ++bad;
        j["error"] = "not an MQData message";
        j["partition"] = d.partition;
        j["offset"] = d.offset;
        return j;
    }
    j["agent_id"] = mq.agent_id();
    j["hostname"] = mq.hostname();
    j["data_type"] = mq.data_type();
    j["agent_time"] = mq.agent_time();
    j["svr_time"] = mq.svr_time();
    j["batch_seq"] = mq.batch_seq();
    j["batch_index"] = mq.batch_index();
    if (!mq.intranet_ipv4().empty()) j["intranet_ipv4"] = mq.intranet_ipv4();
    std::map<std::string, std::string> fields;
    if (wire::decodePayload(mq.body(), fields)) {
        nlohmann::json f = nlohmann::json::object();
        for (auto& [k, v] : fields) f[k] = v;  // invalid UTF-8 is replaced when dumped
        j["fields"] = std::move(f);
    } else {
        ++bad;
        j["fields_error"] = "malformed Payload";
    }
    return j;
}

int runTail(const TailOptions& o) {
    if (o.dir.empty() == o.nats_url.empty()) {
        std::fprintf(stderr, "vigilctl bus tail: give either --dir (embedded bus) or --nats URL\n");
        return 2;
    }
    auto timeout = config::parseDuration(o.timeout);
    if (!timeout) {
        std::fprintf(stderr, "vigilctl bus tail: --timeout: '%s' is not a duration (10s, 2m)\n",
                     o.timeout.c_str());
        return 2;
    }
    if (auto st = bus::checkGroupName(o.group); !st.ok()) {
        std::fprintf(stderr, "vigilctl bus tail: --group: %s\n", st.message().c_str());
        return 2;
    }
    bus::BusOptions bo;
    bo.writer = false;
    if (!o.dir.empty()) {
        bo.backend = "embedded";
        bo.dir = o.dir;
    } else {
        bo.backend = "nats";
        bo.nats_url = o.nats_url;
        bo.stream = o.stream;
        bo.nats_subject_prefix = o.prefix;
    }
    metrics::Registry reg;
    auto b = bus::Bus::open(bo, reg);
    if (!b.ok()) {
        std::fprintf(stderr, "vigilctl bus tail: %s\n", b.message().c_str());
        return 1;
    }
    bus::ConsumerOptions co;
    co.group = o.group;
    co.from_latest = !o.from_start;
    auto c = (*b)->consumer(co);
    if (!c.ok()) {
        std::fprintf(stderr, "vigilctl bus tail: %s\n", c.message().c_str());
        return 1;
    }
    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    uint64_t printed = 0, bad = 0;
    auto idle_since = std::chrono::steady_clock::now();
    while (!g_stop && (o.count == 0 || printed < o.count)) {
        auto got = (*c)->fetch(o.count ? std::min<uint64_t>(1000, o.count - printed) : 1000,
                               std::chrono::milliseconds(200));
        if (!got.ok()) {
            std::fprintf(stderr, "vigilctl bus tail: %s\n", got.message().c_str());
            return 1;
        }
        if (got->empty()) {
            if (timeout->count() > 0 && std::chrono::steady_clock::now() - idle_since >= *timeout) break;
            continue;
        }
        idle_since = std::chrono::steady_clock::now();
        for (const auto& d : *got) {
            std::fputs(toJson(d, bad).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str(), stdout);
            std::fputc('\n', stdout);
            ++printed;
        }
        std::fflush(stdout);
        if (auto st = (*c)->commit(*got); !st.ok()) {
            std::fprintf(stderr, "vigilctl bus tail: commit: %s\n", st.message().c_str());
            return 1;
        }
    }
    if (bad) std::fprintf(stderr, "vigilctl bus tail: %llu malformed messages\n", static_cast<unsigned long long>(bad));
    return 0;
}

}  // namespace

void addBusCommands(CLI::App& app, int& exit_code) {
    auto* busc = app.add_subcommand("bus", "Read the bus (records from the centers)");
    busc->require_subcommand(1);
    auto o = std::make_shared<TailOptions>();
    auto* tail = busc->add_subcommand("tail", "Print records as JSON lines, following new ones (Ctrl-C stops)");
    tail->add_option("--dir", o->dir, "Embedded bus directory (a center's <data_dir>/bus)");
    tail->add_option("--nats", o->nats_url, "NATS URL (JetStream bus)");
    tail->add_option("--stream", o->stream, "NATS stream")->capture_default_str();
    tail->add_option("--prefix", o->prefix, "NATS subject prefix")->capture_default_str();
    tail->add_option("--group", o->group, "Consumer group (keeps its position)")->capture_default_str();
    tail->add_flag("--from-start", o->from_start, "A new group starts at the oldest record instead of the end");
    tail->add_option("--count", o->count, "Exit after N records (0: never)");
    tail->add_option("--timeout", o->timeout, "Exit after this long without records (0: never)")->capture_default_str();
    tail->callback([o, &exit_code] { exit_code = runTail(*o); });
}

}  // namespace vigil::vigilctl
