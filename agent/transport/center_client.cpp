// CenterClient: endpoint selection, the bidi Transfer stream (sender and receiver threads),
// acknowledgements, reconnection with backoff, and file upload.
#include "agent/transport/center_client.h"

#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include <grpc/grpc_security.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include "agent/transport/byte_buffer.h"
#include "agent/transport/discovery.h"
#include "agent/transport/file_upload.h"
#include "libs/common/backoff.h"
#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "libs/wire/command.h"

namespace vigil::agent {
namespace {

constexpr const char* kTransferMethod = "/grpc.Transfer/Transfer";
constexpr int kDiscoveryCount = 5;
constexpr std::chrono::milliseconds kDiscoveryTimeout{1000};
constexpr std::chrono::milliseconds kPollSlice{100};
// A stream that ends this soon without a word from the center counts as a refused connection
// (bad certificate, duplicate agent id, overloaded center), not as a lost one.
constexpr std::chrono::seconds kRejectWindow{2};
// A connection that lasted this long resets the backoff.
constexpr std::chrono::seconds kHealthySession{5};

using Stream = grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> logger() {
    static auto l = log::get("transport");
    return l;
}

struct Candidate {
    std::string address;
    std::string net_mode;
};

enum class SessionEnd { kNotConnected, kRejected, kLost, kStopped };

}  // namespace

struct CenterClient::Impl {
    Impl(TransportOptions o, Spool& s, CommandHandler& h, metrics::Registry& m)
        : options(std::move(o)), spool(s), handler(h), region(options.region) {
        const std::string fail = "vigil_agent_transport_connect_failures_total";
        const std::string fail_help = "Failed attempts to reach a center, by cause";
        batches_sent =
            &m.counter("vigil_agent_transport_batches_sent_total", "Batches sent to a center");
        records_sent =
            &m.counter("vigil_agent_transport_records_sent_total", "Records sent to a center");
        bytes_sent = &m.counter("vigil_agent_transport_bytes_sent_total",
                                "PackagedData bytes sent to a center");
        acks =
            &m.counter("vigil_agent_transport_acks_total", "Acknowledgements (ack_seq) received");
        commands = &m.counter("vigil_agent_transport_commands_total",
                              "Commands (tasks, config syncs) received");
        bad_commands = &m.counter("vigil_agent_transport_bad_commands_total",
                                  "Unparseable messages from a center");
        reconnects =
            &m.counter("vigil_agent_transport_reconnects_total", "Connections after the first one");
        fail_discovery = &m.counter(fail, fail_help, {{"cause", "discovery"}});
        fail_unreachable = &m.counter(fail, fail_help, {{"cause", "unreachable"}});
        fail_rejected = &m.counter(fail, fail_help, {{"cause", "rejected"}});
        disconnects =
            &m.counter("vigil_agent_transport_disconnects_total", "Established streams that ended");
        connected_gauge =
            &m.gauge("vigil_agent_transport_connected", "1 while a stream to a center is open");
        inflight_gauge = &m.gauge("vigil_agent_transport_inflight_batches",
                                  "Batches sent and not yet acknowledged");
        uploads_ok =
            &m.counter("vigil_agent_transport_uploads_total", "File uploads", {{"result", "ok"}});
        uploads_failed = &m.counter("vigil_agent_transport_uploads_total", "File uploads",
                                    {{"result", "failed"}});
        resumed = &m.counter("vigil_agent_transport_tls_resumptions_total",
                             "Connections that resumed an earlier TLS session (cheaper handshake)");
        // TLS session resumption across our per-attempt channels: a reconnect to a center seen
        // before skips the full handshake, which matters when thousands of agents reconnect.
        session_cache = grpc_ssl_session_cache_create_lru(8);
        too_large = &m.counter("vigil_agent_transport_dropped_records_total",
                               "Records the transport could not send", {{"cause", "too_large"}});
        state.net_mode = "unknown";
    }

    ~Impl() { grpc_ssl_session_cache_destroy(session_cache); }

    void run();
    SessionEnd trySession(const Candidate& c);
    std::shared_ptr<grpc::Channel> makeChannel(const std::string& address);
    bool waitConnected(grpc::Channel& channel);
    void sendLoop(Stream& stream, uint64_t& sent_after);
    void receiveLoop(Stream& stream, Clock::time_point& last_message);
    void applyAck(uint64_t ack_seq);
    std::vector<Candidate> discoveryCandidates(const NetworkEndpoints& net,
                                               const std::string& name);
    bool sleepFor(std::chrono::milliseconds d);  // false when stopping
    bool isStopping() {
        std::lock_guard lock(mu);
        return stopping;
    }

    TransportOptions options;
    Spool& spool;
    CommandHandler& handler;
    std::string ca_pem, cert_pem, key_pem;

    std::thread thread;
    mutable std::mutex mu;  // everything below up to flow_mu
    std::condition_variable cv;
    bool stopping = false;
    std::string region;
    std::shared_ptr<grpc::Channel> channel;  // of the open stream, for uploads
    grpc::ClientContext* stream_ctx = nullptr;
    std::set<grpc::ClientContext*> upload_ctxs;
    TransportStats state;
    bool ever_connected = false;

    std::mutex flow_mu;  // the current stream's window
    std::condition_variable flow_cv;
    std::deque<uint64_t> inflight;
    uint64_t max_sent = 0;  // highest batch_seq written on the current stream
    bool broken = false;

    metrics::Counter *batches_sent, *records_sent, *bytes_sent, *acks, *commands, *bad_commands,
        *reconnects;
    metrics::Counter *fail_discovery, *fail_unreachable, *fail_rejected, *disconnects;
    metrics::Counter *uploads_ok, *uploads_failed, *too_large, *resumed;
    grpc_ssl_session_cache* session_cache = nullptr;
    metrics::Gauge *connected_gauge, *inflight_gauge;
};

CenterClient::CenterClient(TransportOptions options, Spool& spool, CommandHandler& handler,
                           metrics::Registry& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), spool, handler, metrics)) {}

CenterClient::~CenterClient() {
    stop();
}

Status CenterClient::start() {
    Impl& d = *impl_;
    if (d.thread.joinable()) return makeError("transport already started");
    if (d.options.ca_file.empty() || d.options.cert_file.empty() || d.options.key_file.empty()) {
        return makeError(
            "transport: ca_file, cert_file and key_file are required (mTLS is mandatory)");
    }
    auto ca = fs::readFile(d.options.ca_file, 1 << 20);
    if (!ca.ok()) return makeError("transport CA file: {}", ca.message());
    auto cert = fs::readFile(d.options.cert_file, 1 << 20);
    if (!cert.ok()) return makeError("transport certificate file: {}", cert.message());
    auto key = fs::readFile(d.options.key_file, 1 << 20);
    if (!key.ok()) return makeError("transport key file: {}", key.message());
    if (ca->find("-----BEGIN") == std::string::npos ||
        cert->find("-----BEGIN") == std::string::npos ||
        key->find("-----BEGIN") == std::string::npos) {
        return makeError("transport: {}, {} and {} must be PEM files", d.options.ca_file,
                         d.options.cert_file, d.options.key_file);
    }
    d.ca_pem = std::move(*ca);
    d.cert_pem = std::move(*cert);
    d.key_pem = std::move(*key);

    auto region = d.options.regions.find(d.options.region);
    if (region == d.options.regions.end())
        return makeError("transport: unknown region \"{}\"", d.options.region);
    bool any = false;
    for (const auto& net : d.options.network_order) {
        if (net != "private" && net != "public") {
            return makeError(
                "transport: network_order entry \"{}\" is neither \"private\" nor \"public\"", net);
        }
        const NetworkEndpoints& ep =
            net == "private" ? region->second.private_net : region->second.public_net;
        any = any || !ep.discovery.empty() || !ep.centers.empty();
    }
    if (!any)
        return makeError("transport: region \"{}\" has no discovery or center address",
                         d.options.region);
    if (d.options.window_batches == 0) d.options.window_batches = 1;
    {
        std::lock_guard lock(d.mu);
        d.stopping = false;
    }
    d.thread = std::thread([&d] { d.run(); });
    return okStatus();
}

void CenterClient::stop() {
    Impl& d = *impl_;
    {
        std::lock_guard lock(d.mu);
        d.stopping = true;
        if (d.stream_ctx) d.stream_ctx->TryCancel();
        for (auto* ctx : d.upload_ctxs) ctx->TryCancel();
    }
    d.cv.notify_all();
    {
        std::lock_guard lock(d.flow_mu);  // so a sender about to wait cannot miss the wake-up
    }
    d.flow_cv.notify_all();
    if (d.thread.joinable()) d.thread.join();
}

bool CenterClient::setRegion(const std::string& region) {
    Impl& d = *impl_;
    if (!d.options.regions.count(region)) return false;
    std::lock_guard lock(d.mu);
    d.region = region;
    return true;
}

TransportStats CenterClient::stats() const {
    Impl& d = *impl_;
    std::lock_guard lock(d.mu);
    TransportStats s = d.state;
    s.batches_sent = d.batches_sent->value();
    s.records_sent = d.records_sent->value();
    s.bytes_sent = d.bytes_sent->value();
    s.commands_received = d.commands->value();
    s.reconnects = d.reconnects->value();
    s.connect_failures =
        d.fail_discovery->value() + d.fail_unreachable->value() + d.fail_rejected->value();
    return s;
}

bool CenterClient::Impl::sleepFor(std::chrono::milliseconds delay) {
    std::unique_lock lock(mu);
    return !cv.wait_for(lock, delay, [&] { return stopping; });
}

std::vector<Candidate> CenterClient::Impl::discoveryCandidates(const NetworkEndpoints& net,
                                                               const std::string& name) {
    std::vector<Candidate> out;
    for (const auto& disc : net.discovery) {
        if (isStopping()) break;
        auto centers =
            queryDiscovery(disc, options.discovery_service, kDiscoveryCount, kDiscoveryTimeout);
        if (!centers.ok()) {
            fail_discovery->inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn, "{}", centers.message());
            continue;
        }
        if (centers->empty()) {
            fail_discovery->inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn,
                                   "discovery {} knows no \"{}\" instance", disc,
                                   options.discovery_service);
            continue;
        }
        for (auto& c : *centers) out.push_back({std::move(c.address), "sd-" + name});
        break;  // replicas share their registry: one answer is enough
    }
    return out;
}

void CenterClient::Impl::run() {
    Backoff backoff(options.backoff_initial, options.backoff_max);
    while (!isStopping()) {
        std::string current_region;
        {
            std::lock_guard lock(mu);
            current_region = region;
        }
        const RegionEndpoints& endpoints = options.regions.at(current_region);
        SessionEnd end = SessionEnd::kNotConnected;
        Clock::time_point started = Clock::now();
        // Per network in order: the centers discovery names (least loaded first), then the
        // configured ones. The first center that takes the stream wins.
        for (const auto& net_name : options.network_order) {
            const NetworkEndpoints& net =
                net_name == "private" ? endpoints.private_net : endpoints.public_net;
            std::vector<Candidate> candidates = discoveryCandidates(net, net_name);
            for (const auto& c : net.centers) candidates.push_back({c, net_name});
            for (const auto& c : candidates) {
                if (isStopping()) return;
                started = Clock::now();
                end = trySession(c);
                if (end != SessionEnd::kNotConnected && end != SessionEnd::kRejected) break;
            }
            if (end != SessionEnd::kNotConnected && end != SessionEnd::kRejected) break;
        }
        if (end == SessionEnd::kStopped || isStopping()) return;
        if (end == SessionEnd::kLost && Clock::now() - started >= kHealthySession) backoff.reset();
        auto delay = backoff.next();
        if (end != SessionEnd::kLost) {
            VIGIL_LOG_RATE_LIMITED(
                logger(), spdlog::level::warn,
                "no center of region \"{}\" accepted the connection; retrying in {} ms",
                current_region, delay.count());
        } else {
            logger()->info("reconnecting in {} ms", delay.count());
        }
        if (!sleepFor(delay)) return;
    }
}

std::shared_ptr<grpc::Channel> CenterClient::Impl::makeChannel(const std::string& address) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem;
    ssl.pem_cert_chain = cert_pem;
    ssl.pem_private_key = key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(options.server_name);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Keepalive pings must go on while the stream is idle (no batches for a while).
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // BDP probing costs a ping per window on every stream; batches are large and few.
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    const int max_message = static_cast<int>(
        std::min<uint64_t>(options.max_message_bytes, std::numeric_limits<int>::max()));
    args.SetMaxSendMessageSize(max_message);
    args.SetMaxReceiveMessageSize(max_message);
    // Each attempt gets its own connection: reconnect timing is ours (Backoff), not gRPC's.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    grpc_arg cache_arg = grpc_ssl_session_cache_create_channel_arg(session_cache);
    args.SetPointerWithVtable(cache_arg.key, cache_arg.value.pointer.p,
                              cache_arg.value.pointer.vtable);
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

bool CenterClient::Impl::waitConnected(grpc::Channel& ch) {
    const auto deadline = Clock::now() + options.connect_timeout;
    grpc_connectivity_state st = ch.GetState(/*try_to_connect=*/true);
    // Wait in short slices so stop() is prompt. TRANSIENT_FAILURE means the attempt failed
    // (refused, unreachable, TLS handshake refused): move on to the next center at once.
    while (st != GRPC_CHANNEL_READY) {
        if (st == GRPC_CHANNEL_TRANSIENT_FAILURE || st == GRPC_CHANNEL_SHUTDOWN) return false;
        if (isStopping() || Clock::now() >= deadline) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        ch.WaitForStateChange(st, std::chrono::system_clock::now() + std::min(left, kPollSlice));
        st = ch.GetState(true);
    }
    return true;
}

SessionEnd CenterClient::Impl::trySession(const Candidate& c) {
    auto ch = makeChannel(c.address);
    if (!waitConnected(*ch)) {
        if (isStopping()) return SessionEnd::kStopped;
        fail_unreachable->inc();
        logger()->debug("center {} ({}) unreachable within {} ms", c.address, c.net_mode,
                        options.connect_timeout.count());
        return SessionEnd::kNotConnected;
    }
    grpc::ClientContext ctx;
    {
        std::lock_guard lock(mu);
        if (stopping) return SessionEnd::kStopped;
        stream_ctx = &ctx;
    }
    {
        std::lock_guard lock(flow_mu);
        inflight.clear();
        max_sent = 0;
        broken = false;
    }
    grpc::internal::RpcMethod method(kTransferMethod, grpc::internal::RpcMethod::BIDI_STREAMING,
                                     ch);
    std::unique_ptr<Stream> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            ch.get(), method, &ctx));
    const auto opened = Clock::now();
    bool reused = false;
    if (auto auth = ctx.auth_context()) {
        auto v = auth->FindPropertyValues(GRPC_SSL_SESSION_REUSED_PROPERTY);
        reused = !v.empty() && v.front() == "true";
    }
    if (reused) resumed->inc();
    {
        std::lock_guard lock(mu);
        channel = ch;
        state.connected = true;
        state.center = c.address;
        state.net_mode = c.net_mode;
        state.tls_session_reused = reused;
        if (ever_connected) reconnects->inc();
        ever_connected = true;
    }
    connected_gauge->set(1);
    // Resend from the first unacknowledged batch: anything sent on an earlier stream and not
    // acknowledged may not have reached the bus.
    uint64_t sent_after = spool.stats().acked_seq;
    logger()->info("connected to center {} (mode {}{}), resending from batch {}", c.address,
                   c.net_mode, reused ? ", TLS session resumed" : "", sent_after + 1);

    Clock::time_point last_message{};
    std::thread receiver([&] {
        handler.onConnected(c.address, c.net_mode);
        receiveLoop(*stream, last_message);
    });
    sendLoop(*stream, sent_after);

    // Make the receiver return: after a failed write the call is over anyway; on stop (or a
    // stalled center) cancel it.
    {
        std::unique_lock lock(flow_mu);
        flow_cv.wait_for(lock, std::chrono::seconds(1), [&] { return broken; });
    }
    ctx.TryCancel();
    receiver.join();
    grpc::Status status = stream->Finish();
    {
        std::lock_guard lock(mu);
        stream_ctx = nullptr;
        channel.reset();
        state.connected = false;
    }
    connected_gauge->set(0);
    inflight_gauge->set(0);
    if (isStopping()) return SessionEnd::kStopped;
    const bool heard_back = last_message != Clock::time_point{};
    if (!heard_back && Clock::now() - opened < kRejectWindow) {
        fail_rejected->inc();
        logger()->warn("center {} ({}) closed the stream at once: {} ({})", c.address, c.net_mode,
                       status.error_message(), static_cast<int>(status.error_code()));
        return SessionEnd::kRejected;
    }
    disconnects->inc();
    logger()->warn("connection to center {} ({}) lost: {} ({})", c.address, c.net_mode,
                   status.error_message(), static_cast<int>(status.error_code()));
    return SessionEnd::kLost;
}

void CenterClient::Impl::sendLoop(Stream& stream, uint64_t& sent_after) {
    for (;;) {
        {
            std::unique_lock lock(flow_mu);
            flow_cv.wait(lock, [&] {
                return broken || inflight.size() < options.window_batches || isStopping();
            });
            if (broken) return;
        }
        if (isStopping()) return;
        SpooledBatch batch;
        const auto asked = Clock::now();
        if (!spool.next(sent_after, batch, std::chrono::milliseconds(200))) {
            // A closed spool answers at once: do not spin on it.
            if (Clock::now() - asked < std::chrono::milliseconds(50) && !sleepFor(kPollSlice))
                return;
            std::lock_guard lock(flow_mu);
            if (broken) return;
            continue;
        }
        const size_t bytes = batch.bytes->size();
        if (bytes > options.max_message_bytes) {
            // It would fail the stream on every attempt. Skipping it is safe: the center's
            // cumulative ack of a later batch removes it from the spool.
            too_large->inc(batch.records);
            logger()->error(
                "batch {} ({} bytes, {} records) exceeds the {} byte message limit; dropped",
                batch.seq, bytes, batch.records, options.max_message_bytes);
            sent_after = batch.seq;
            continue;
        }
        {
            std::lock_guard lock(flow_mu);
            inflight.push_back(batch.seq);  // before the write: the ack may beat Write() back
            max_sent = batch.seq;
            inflight_gauge->set(static_cast<double>(inflight.size()));
        }
        if (!stream.Write(shareAsByteBuffer(batch.bytes))) return;
        sent_after = batch.seq;
        batches_sent->inc();
        records_sent->inc(batch.records);
        bytes_sent->inc(bytes);
    }
}

void CenterClient::Impl::applyAck(uint64_t ack_seq) {
    acks->inc();
    {
        std::lock_guard lock(flow_mu);
        // An ack covers batches sent on this stream only: a center acknowledging more (a bug,
        // or a stale ack) must not make the spool drop batches it never received.
        ack_seq = std::min(ack_seq, max_sent);
        while (!inflight.empty() && inflight.front() <= ack_seq) inflight.pop_front();
        inflight_gauge->set(static_cast<double>(inflight.size()));
    }
    if (ack_seq > 0) spool.ack(ack_seq);
    flow_cv.notify_all();
}

void CenterClient::Impl::receiveLoop(Stream& stream, Clock::time_point& last_message) {
    grpc::ByteBuffer buffer;
    while (stream.Read(&buffer)) {
        last_message = Clock::now();
        wire::AgentCommand command;
        if (!wire::parseCommand(flattenByteBuffer(buffer), command)) {
            bad_commands->inc();
            VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::warn,
                                   "unparseable Command from the center, ignored");
            continue;
        }
        if (command.ack_seq > 0) applyAck(command.ack_seq);
        // A Command that only acknowledges is transport business. Anything else (a task, a
        // config sync, a control code; an empty Command is a sync to an empty plugin set) goes on.
        const bool bare_ack = command.ack_seq > 0 && !command.has_task && command.configs.empty() &&
                              command.agent_ctrl == 0;
        if (bare_ack) continue;
        commands->inc();
        handler.onCommand(command);
    }
    {
        std::lock_guard lock(flow_mu);
        broken = true;
    }
    flow_cv.notify_all();
}

Status CenterClient::uploadFile(const std::string& path, const std::string& token,
                                uint64_t max_bytes, uint32_t chunk_bytes) {
    Impl& d = *impl_;
    std::shared_ptr<grpc::Channel> ch;
    auto ctx = std::make_unique<grpc::ClientContext>();
    {
        std::lock_guard lock(d.mu);
        if (d.stopping || !d.channel) {
            d.uploads_failed->inc();
            return makeError("cannot upload {}: not connected to a center", path);
        }
        ch = d.channel;
        d.upload_ctxs.insert(ctx.get());
    }
    Status st = uploadOverChannel(ch, *ctx, path, token, max_bytes, chunk_bytes);
    {
        std::lock_guard lock(d.mu);
        d.upload_ctxs.erase(ctx.get());
    }
    (st.ok() ? d.uploads_ok : d.uploads_failed)->inc();
    if (st.ok()) {
        logger()->info("uploaded {} to the center", path);
    } else {
        logger()->warn("upload of {} failed: {}", path, st.message());
    }
    return st;
}

}  // namespace vigil::agent
