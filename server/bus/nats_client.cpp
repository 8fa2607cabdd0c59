// NATS connection and stream set-up for the NATS bus backend.
#include "server/bus/nats_client.h"

#include <charconv>
#include <string>

#include "libs/common/log.h"

namespace vigil::bus {
namespace {

constexpr std::string_view kDescriptionPrefix = "vigil bus: ";  // "vigil bus: 8 partitions"


int64_t toNs(std::chrono::seconds s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(s).count();
}

}  // namespace

// libnats runs these on its own thread, possibly after natsConnection_Close returned: the
// destructor waits for onClosed, the last of them, before the NatsClient goes.
void NatsClient::onDisconnected(natsConnection*, void* closure) {
    auto* self = static_cast<NatsClient*>(closure);
    if (self->closing_.load()) return;
    self->metrics_.error("disconnected").inc();
    log::get("bus")->warn("bus: lost the connection to NATS at {}; reconnecting",
                          self->options_.nats_url);
}

void NatsClient::onReconnected(natsConnection* nc, void*) {
    char url[256] = {};
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    log::get("bus")->info("bus: reconnected to NATS at {}", url);
}

void NatsClient::onClosed(natsConnection*, void* closure) {
    auto* self = static_cast<NatsClient*>(closure);
    std::lock_guard lock(self->closed_mu_);
    ++self->closed_;
    self->closed_cv_.notify_all();
}

Error natsError(natsStatus s, std::string_view what, jsErrCode js_code) {
    const char* last = nats_GetLastError(nullptr);
    std::string detail = last && *last ? fmt::format(" ({})", last) : "";
    if (js_code != 0) detail += fmt::format(" [JetStream error {}]", static_cast<int>(js_code));
    return makeError("{}: {}{}", what, natsStatus_GetText(s), detail);
}

NatsClient::NatsClient(const BusOptions& options, BusMetrics& metrics)
    : options_(options), metrics_(metrics) {}

NatsClient::~NatsClient() {
    closing_ = true;
    if (js_) jsCtx_Destroy(js_);
    int open = 0;
    for (natsConnection* nc : {nc_, control_}) {
        if (nc) {
            natsConnection_Close(nc);
            ++open;
        }
    }
    {
        std::unique_lock lock(closed_mu_);
        closed_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return closed_ >= open; });
    }
    for (natsConnection* nc : {nc_, control_}) {
        if (nc) natsConnection_Destroy(nc);
    }
}

Result<natsConnection*> NatsClient::dial(const char* name) {
    natsOptions* opts = nullptr;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, options_.nats_url.c_str());
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, options_.nats_timeout.count());
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);  // forever
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, onDisconnected, this);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, onReconnected, nullptr);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, onClosed, this);
    natsConnection* nc = nullptr;
    if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (s != NATS_OK) {
        return natsError(s, fmt::format("bus: connect to NATS at {}", options_.nats_url));
    }
    return nc;
}

Result<std::unique_ptr<NatsClient>> NatsClient::connect(const BusOptions& options,
                                                        BusMetrics& metrics) {
    std::unique_ptr<NatsClient> c(new NatsClient(options, metrics));
    auto nc = c->dial("vigil-bus");
    if (!nc.ok()) return nc.error();
    c->nc_ = *nc;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options.nats_timeout.count();
    natsStatus s = natsConnection_JetStream(&c->js_, c->nc_, &jo);
    if (s != NATS_OK) return natsError(s, "bus: JetStream context");
    VIGIL_TRY(c->ensureStream());
    return c;
}

Result<natsConnection*> NatsClient::controlConn() {
    std::lock_guard lock(control_mu_);
    if (!control_) {
        auto nc = dial("vigil-bus-acks");
        if (!nc.ok()) return nc.error();
        control_ = *nc;
    }
    return control_;
}

Status NatsClient::ensureStream() {
    const std::string& name = options_.stream;
    jsStreamInfo* si = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_, name.c_str(), nullptr, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        const std::string subjects = options_.nats_subject_prefix + ".>";
        const char* subject_list[] = {subjects.c_str()};
        const std::string description =
            fmt::format("{}{} partitions", kDescriptionPrefix, options_.partitions);
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = name.c_str();
        cfg.Description = description.c_str();
        cfg.Subjects = subject_list;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy;
        cfg.Discard = js_DiscardOld;
        cfg.MaxAge = toNs(options_.nats_max_age);
        cfg.MaxBytes = options_.nats_max_bytes;
        cfg.Replicas = options_.nats_replicas;
        jerr = static_cast<jsErrCode>(0);
        s = js_AddStream(&si, js_, &cfg, nullptr, &jerr);
        if (s != NATS_OK) {
            return natsError(s, fmt::format("bus: create NATS stream {} (subjects {})", name, subjects),
                             jerr);
        }
        jsStreamInfo_Destroy(si);
        partitions_ = options_.partitions;
        log::get("bus")->info("bus: created NATS stream {} (subjects {}, {} partitions)", name,
                              subjects, partitions_);
        return okStatus();
    }
    if (s != NATS_OK) return natsError(s, fmt::format("bus: NATS stream {}", name), jerr);
    std::unique_ptr<jsStreamInfo, void (*)(jsStreamInfo*)> info(si, jsStreamInfo_Destroy);
    const jsStreamConfig* cfg = si->Config;
    const std::string want_subject = options_.nats_subject_prefix + ".>";
    bool has_subject = false;
    for (int i = 0; i < cfg->SubjectsLen; ++i) has_subject = has_subject || want_subject == cfg->Subjects[i];
    if (!has_subject) {
        return makeError("bus: NATS stream {} exists but does not hold subjects {}", name, want_subject);
    }
    std::string_view desc = cfg->Description ? cfg->Description : "";
    uint32_t stored = 0;
    if (desc.substr(0, kDescriptionPrefix.size()) == kDescriptionPrefix) {
        std::string_view rest = desc.substr(kDescriptionPrefix.size());
        std::from_chars(rest.data(), rest.data() + rest.size(), stored);
    }
    if (stored == 0) {
        return makeError("bus: NATS stream {} was not created by a vigil bus (description '{}')",
                         name, desc);
    }
    if (options_.writer && stored != options_.partitions) {
        return makeError("bus: NATS stream {} has {} partitions but the options ask for {} (the "
                         "partition count is fixed for the life of a bus)",
                         name, stored, options_.partitions);
    }
    partitions_ = stored;
    return okStatus();
}

bool NatsClient::connected() const {
    return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

Error NatsClient::disconnectedError() const {
    return makeError("bus: NATS at {} is not reachable (connection {}); nothing was appended",
                     options_.nats_url,
                     natsConnection_Status(nc_) == NATS_CONN_STATUS_RECONNECTING ? "reconnecting"
                                                                                 : "closed");
}

int64_t NatsClient::maxPayload() const { return natsConnection_GetMaxPayload(nc_); }

std::string NatsClient::subject(uint32_t partition, Family family) const {
    return fmt::format("{}.{}.{}", options_.nats_subject_prefix, partition, familyName(family));
}

std::string NatsClient::partitionSubjects(uint32_t partition) const {
    return fmt::format("{}.{}.*", options_.nats_subject_prefix, partition);
}

}  // namespace vigil::bus
