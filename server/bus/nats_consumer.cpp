// NATS consumer: per-partition durable pull consumers, pull requests answered on one inbox,
// batch unpacking, confirmed acks on commit, NAKs on close.
#include "server/bus/nats_consumer.h"

#include <algorithm>
#include <charconv>

#include "libs/common/log.h"
#include "server/bus/nats_framing.h"

namespace vigil::bus {
namespace {

constexpr int kMaxPullBatch = 256;
// Also bounds how long a closing consumer waits for its open requests.
constexpr auto kMaxPullExpiry = std::chrono::milliseconds(500);
constexpr auto kMaxWaitSlice = std::chrono::milliseconds(250);
constexpr int64_t kMaxAckPending = 20000;
constexpr int64_t kPullMaxBytes = 4 << 20;
constexpr size_t kMaxUnconfirmedCommits = 8;

int64_t toNs(std::chrono::nanoseconds d) { return d.count(); }

// Stream sequence from a JetStream ack subject: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>...
// (9 tokens) or $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>... (11+).
bool streamSequence(std::string_view reply, uint64_t& sseq) {
    std::vector<std::string_view> tokens;
    size_t at = 0;
    while (at <= reply.size()) {
        size_t dot = reply.find('.', at);
        if (dot == std::string_view::npos) dot = reply.size();
        tokens.push_back(reply.substr(at, dot - at));
        at = dot + 1;
    }
    if (tokens.size() < 9 || tokens[0] != "$JS" || tokens[1] != "ACK") return false;
    std::string_view t = tokens.size() == 9 ? tokens[5] : tokens[7];
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), sseq);
    return ec == std::errc() && p == t.data() + t.size();
}

void publishString(natsConnection* nc, const std::string& subject, const char* text) {
    natsConnection_PublishString(nc, subject.c_str(), text);
}

}  // namespace

NatsConsumer::NatsConsumer(NatsClient& client, ConsumerOptions options, BusMetrics& metrics)
    : client_(client),
      options_(std::move(options)),
      metrics_(metrics),
      consumed_(metrics.consumed(options_.group)) {}

Result<std::unique_ptr<NatsConsumer>> NatsConsumer::open(NatsClient& client,
                                                         const ConsumerOptions& options,
                                                         BusMetrics& metrics) {
    VIGIL_TRY(checkGroupName(options.group));
    std::unique_ptr<NatsConsumer> c(new NatsConsumer(client, options, metrics));
    std::vector<Family> families = options.families;
    std::sort(families.begin(), families.end());
    families.erase(std::unique(families.begin(), families.end()), families.end());
    if (families.empty() || families.size() == c->families_.size()) {
        c->families_.fill(true);
    } else {
        for (Family f : families) c->families_[static_cast<size_t>(f)] = true;
        c->filter_here_ = families.size() > 1;
    }
    std::vector<uint32_t> ids = options.partitions;
    if (ids.empty()) {
        for (uint32_t p = 0; p < client.partitions(); ++p) ids.push_back(p);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());

    natsInbox* inbox = nullptr;
    natsStatus s = natsInbox_Create(&inbox);
    if (s != NATS_OK) return natsError(s, "bus: NATS inbox");
    c->inbox_prefix_ = inbox;
    natsInbox_Destroy(inbox);
    const std::string data_subjects = c->inbox_prefix_ + ".d.*";
    c->ack_inbox_ = c->inbox_prefix_ + ".a";
    s = natsConnection_SubscribeSync(&c->sub_, client.conn(), data_subjects.c_str());
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(c->sub_, -1, -1);
    auto control = client.controlConn();
    if (!control.ok()) return control.error();
    c->control_ = *control;
    if (s == NATS_OK) {
        s = natsConnection_SubscribeSync(&c->ack_sub_, c->control_, (c->ack_inbox_ + ".*").c_str());
    }
    if (s != NATS_OK) return natsError(s, "bus: NATS subscription");

    c->parts_.resize(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] >= client.partitions()) {
            return makeError("bus: no partition {} (the NATS bus has {})", ids[i],
                             client.partitions());
        }
        PartState& part = c->parts_[i];
        part.id = ids[i];
        part.durable = fmt::format("{}_p{:03}", options.group, part.id);
        part.next_subject = fmt::format("$JS.API.CONSUMER.MSG.NEXT.{}.{}", client.options().stream,
                                        part.durable);
        part.inbox = fmt::format("{}.d.{}", c->inbox_prefix_, part.id);
        std::string filter = families.size() == 1
                                 ? client.subject(part.id, families[0])
                                 : client.partitionSubjects(part.id);
        VIGIL_TRY(c->setUpDurable(part, filter));
    }
    return c;
}

Status NatsConsumer::setUpDurable(PartState& part, const std::string& filter) {
    const std::string& stream = client_.options().stream;
    jsConsumerInfo* ci = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_GetConsumerInfo(&ci, client_.js(), stream.c_str(), part.durable.c_str(),
                                      nullptr, &jerr);
    if (s == NATS_OK) {
        std::unique_ptr<jsConsumerInfo, void (*)(jsConsumerInfo*)> info(ci, jsConsumerInfo_Destroy);
        const char* existing = ci->Config->FilterSubject ? ci->Config->FilterSubject : "";
        if (filter == existing) return okStatus();
        jsConsumerConfig cfg = *ci->Config;
        cfg.FilterSubject = filter.c_str();
        jsConsumerInfo* updated = nullptr;
        jerr = static_cast<jsErrCode>(0);
        s = js_UpdateConsumer(&updated, client_.js(), stream.c_str(), &cfg, nullptr, &jerr);
        if (s != NATS_OK) {
            return natsError(s, fmt::format("bus: NATS consumer {} filters {}; cannot change it to {}",
                                            part.durable, existing, filter),
                             jerr);
        }
        jsConsumerInfo_Destroy(updated);
        return okStatus();
    }
    if (s != NATS_NOT_FOUND && jerr != JSConsumerNotFoundErr) {
        return natsError(s, fmt::format("bus: NATS consumer {} of stream {}", part.durable, stream),
                         jerr);
    }
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = part.durable.c_str();
    cfg.AckPolicy = js_AckExplicit;
    cfg.AckWait = toNs(client_.options().nats_ack_wait);
    cfg.DeliverPolicy = options_.from_latest ? js_DeliverNew : js_DeliverAll;
    cfg.FilterSubject = filter.c_str();
    cfg.MaxAckPending = kMaxAckPending;
    cfg.MaxWaiting = 512;
    jerr = static_cast<jsErrCode>(0);
    s = js_AddConsumer(&ci, client_.js(), stream.c_str(), &cfg, nullptr, &jerr);
    if (s != NATS_OK) {
        return natsError(s, fmt::format("bus: create NATS consumer {} on stream {}", part.durable,
                                        stream),
                         jerr);
    }
    jsConsumerInfo_Destroy(ci);
    return okStatus();
}

NatsConsumer::~NatsConsumer() {
    std::unique_lock lock(mu_);
    // Pull requests still open would deliver to nobody (and those messages would wait for the
    // ack wait): let them end first, keeping what they bring.
    const auto deadline = Clock::now() + kMaxPullExpiry + std::chrono::milliseconds(500);
    auto anyOpen = [&] {
        return std::any_of(parts_.begin(), parts_.end(), [](const PartState& p) {
            return p.request_open;
        });
    };
    while (sub_ && anyOpen() && Clock::now() < deadline && client_.connected()) {
        natsMsg* m = nullptr;
        if (natsSubscription_NextMsg(&m, sub_, 50) == NATS_OK) handle(m);
    }
    // Give back everything not acknowledged, oldest first: JetStream redelivers NAKed messages
    // in the order it gets the NAKs, so the next consumer sees them in order.
    std::vector<const Unacked*> held;
    for (const PartState& part : parts_) {
        for (const Unacked& u : part.unacked) held.push_back(&u);
    }
    std::sort(held.begin(), held.end(),
              [](const Unacked* a, const Unacked* b) { return a->sseq < b->sseq; });
    for (const Unacked* u : held) publishString(control_, u->ack_subject, "-NAK");
    if (client_.connected() && !awaitConfirmations(0).ok()) {
        log::get("bus")->warn("bus: consumer group '{}' closed before NATS confirmed its last "
                              "commit; those messages may be delivered again", options_.group);
    }
    if (client_.connected()) natsConnection_FlushTimeout(control_, 1000);
    for (natsSubscription* s : {sub_, ack_sub_}) {
        if (s) {
            natsSubscription_Unsubscribe(s);
            natsSubscription_Destroy(s);
        }
    }
}

NatsConsumer::PartState* NatsConsumer::partFor(const char* subject, bool status) {
    // Status replies come on our inbox <inbox>.d.<partition>; messages keep their stream
    // subject <prefix>.<partition>.<family>.
    std::string_view s(subject ? subject : "");
    size_t end = s.size();
    if (!status) {
        end = s.rfind('.');
        if (end == std::string_view::npos) return nullptr;
    }
    const size_t dot = s.rfind('.', end - 1);
    if (dot == std::string_view::npos) return nullptr;
    uint32_t id = 0;
    auto [p, ec] = std::from_chars(s.data() + dot + 1, s.data() + end, id);
    if (ec != std::errc() || p != s.data() + end) return nullptr;
    for (PartState& part : parts_) {
        if (part.id == id) return &part;
    }
    return nullptr;
}

void NatsConsumer::handle(natsMsg* msg) {
    std::unique_ptr<natsMsg, void (*)(natsMsg*)> own(msg, natsMsg_Destroy);
    const char* status = nullptr;
    if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status) {
        PartState* part = partFor(natsMsg_GetSubject(msg), true);
        // 404 no messages, 408 request expired, 409 request ended: the pull request is over.
        if (part && std::string_view(status) != "100") part->request_open = false;
        return;
    }
    PartState* part = partFor(natsMsg_GetSubject(msg), false);
    const char* reply = natsMsg_GetReply(msg);
    if (!part || !reply) return;
    if (part->request_open && --part->request_left <= 0) part->request_open = false;
    uint64_t sseq = 0;
    natsfmt::DecodedBatch batch;
    Status ds = streamSequence(reply, sseq)
                    ? natsfmt::decodeBatch(std::string_view(natsMsg_GetData(msg),
                                                            natsMsg_GetDataLength(msg)),
                                           batch)
                    : Status(makeError("unexpected reply subject {}", reply));
    if (!ds.ok()) {
        // Malformed: redelivering it would not help. Terminate it, count it, say so.
        metrics_.error("corrupt").inc();
        VIGIL_LOG_RATE_LIMITED(log::get("bus"), spdlog::level::err,
                               "bus: dropping a malformed NATS message on {}: {}",
                               natsMsg_GetSubject(msg), ds.message());
        publishString(control_, reply, "+TERM");
        return;
    }
    batch_size_avg_ = 0.8 * batch_size_avg_ + 0.2 * static_cast<double>(batch.entries.size());
    bool any = false;
    uint64_t last = 0;
    for (size_t i = 0; i < batch.entries.size(); ++i) {
        const natsfmt::BatchEntry& e = batch.entries[i];
        if (filter_here_ && !families_[static_cast<size_t>(familyOf(e.data_type))]) continue;
        Delivery& d = buffered_.emplace_back();
        d.partition = part->id;
        d.offset = (sseq << 16) | i;
        d.bus_time_ns = batch.bus_time_ns;
        d.data_type = e.data_type;
        d.key.assign(e.key);
        d.value.assign(e.value);
        any = true;
        last = d.offset;
    }
    if (any) {
        part->unacked.push_back({reply, last, sseq});
    } else {
        publishString(control_, reply, "+ACK");  // nothing this group wants in it
    }
}

void NatsConsumer::drainWithoutWaiting() {
    natsMsg* m = nullptr;
    while (natsSubscription_NextMsg(&m, sub_, 0) == NATS_OK) handle(m);
}

Status NatsConsumer::sendPulls(size_t wanted, Clock::time_point deadline) {
    const auto now = Clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const int64_t max_bytes = std::max<int64_t>(kPullMaxBytes, 2 * client_.maxPayload());
    const int batch = static_cast<int>(std::clamp<double>(
        static_cast<double>(wanted) / std::max(batch_size_avg_, 1.0) + 1, 1, kMaxPullBatch));
    for (PartState& part : parts_) {
        if (part.request_open && now > part.request_deadline) part.request_open = false;  // lost
        if (part.request_open) continue;
        std::string request;
        std::chrono::milliseconds expiry{0};
        if (left < std::chrono::milliseconds(5)) {
            request = fmt::format(R"({{"batch":{},"max_bytes":{},"no_wait":true}})", batch, max_bytes);
        } else {
            expiry = std::min(left, kMaxPullExpiry);
            request = fmt::format(R"({{"batch":{},"max_bytes":{},"expires":{}}})", batch, max_bytes,
                                  toNs(expiry));
        }
        natsStatus s = natsConnection_PublishRequest(client_.conn(), part.next_subject.c_str(),
                                                     part.inbox.c_str(), request.data(),
                                                     static_cast<int>(request.size()));
        if (s != NATS_OK) return natsError(s, fmt::format("bus: pull from {}", part.durable));
        part.request_open = true;
        part.request_left = batch;
        part.request_deadline = now + expiry + std::chrono::seconds(2);
    }
    return okStatus();
}

void NatsConsumer::groupByPartition(std::vector<Delivery>& out) const {
    // Batches of several partitions arrive interleaved; each partition's stay in order.
    bool grouped = true;
    for (size_t i = 1; i < out.size() && grouped; ++i) grouped = out[i].partition == out[i - 1].partition;
    if (grouped) return;
    std::vector<Delivery> sorted;
    sorted.reserve(out.size());
    for (const PartState& part : parts_) {
        for (Delivery& d : out) {
            if (d.partition == part.id) sorted.push_back(std::move(d));
        }
    }
    out.swap(sorted);
}

Result<std::vector<Delivery>> NatsConsumer::fetch(size_t max, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mu_);
    std::vector<Delivery> out;
    if (max == 0 || parts_.empty()) return out;
    for (;;) {
        drainWithoutWaiting();
        while (out.size() < max && !buffered_.empty()) {
            out.push_back(std::move(buffered_.front()));
            buffered_.pop_front();
        }
        const bool connected = client_.connected();
        // Keep requests out while the caller works on this batch.
        if (connected && buffered_.size() < max) {
            Status s = sendPulls(max - std::min(max, buffered_.size()), deadline);
            if (!s.ok() && out.empty()) {
                metrics_.error("fetch").inc();
                return s.error();
            }
        }
        if (!out.empty() || Clock::now() >= deadline) break;
        if (!connected) {
            metrics_.error("fetch").inc();
            return client_.disconnectedError();
        }
        lock.unlock();
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        natsMsg* m = nullptr;
        natsStatus s = natsSubscription_NextMsg(
            &m, sub_, std::clamp<int64_t>(std::min(left, kMaxWaitSlice).count(), 1, 1000));
        lock.lock();
        if (s == NATS_OK) {
            handle(m);
        } else if (s != NATS_TIMEOUT) {
            metrics_.error("fetch").inc();
            return natsError(s, "bus: NATS fetch");
        }
    }
    groupByPartition(out);
    consumed_.inc(out.size());
    return out;
}

Status NatsConsumer::commit(std::span<const Delivery> processed) {
    std::lock_guard lock(mu_);
    for (const Delivery& d : processed) {
        if (std::none_of(parts_.begin(), parts_.end(),
                         [&](const PartState& p) { return p.id == d.partition; })) {
            return makeError("bus: commit of partition {} which this consumer does not read",
                             d.partition);
        }
    }
    // Per partition (one durable each), the NATS messages now fully processed.
    std::vector<std::vector<std::string>> acks;
    size_t total = 0;
    for (PartState& part : parts_) {
        bool have = false;
        uint64_t top = 0;
        for (const Delivery& d : processed) {
            if (d.partition == part.id && (!have || d.offset > top)) {
                top = d.offset;
                have = true;
            }
        }
        if (!have) continue;
        std::vector<std::string> mine;
        for (auto it = part.unacked.begin(); it != part.unacked.end();) {
            if (it->last_offset <= top) {
                mine.push_back(std::move(it->ack_subject));
                it = part.unacked.erase(it);
            } else {
                ++it;
            }
        }
        total += mine.size();
        if (!mine.empty()) acks.push_back(std::move(mine));
    }
    if (acks.empty()) return okStatus();
    // A durable applies its acks in the order they come; the last ack of each durable carries a
    // reply subject, and JetStream answers it once applied (a reply on every ack costs ~10x
    // more here). Confirmations are pipelined: a commit waits only when more than a few commits
    // are unconfirmed (each takes ~5-20 ms on a busy server), and closing waits for all, so a
    // consumer started after this one closed does not get these messages again. After a
    // crash, unconfirmed ones may come again (at-least-once).
    const std::string reply = fmt::format("{}.{}", ack_inbox_, ++commit_seq_);
    for (const auto& mine : acks) {
        for (size_t i = 0; i < mine.size(); ++i) {
            natsStatus s = i + 1 < mine.size()
                               ? natsConnection_PublishString(control_, mine[i].c_str(), "+ACK")
                               : natsConnection_PublishRequestString(control_, mine[i].c_str(),
                                                                     reply.c_str(), "+ACK");
            if (s != NATS_OK) {
                metrics_.error("commit").inc();
                return natsError(s, "bus: NATS ack");
            }
        }
    }
    unconfirmed_.push_back({reply, acks.size(), total});
    return awaitConfirmations(kMaxUnconfirmedCommits);
}

Status NatsConsumer::awaitConfirmations(size_t keep) {
    const auto deadline = Clock::now() + client_.options().nats_timeout;
    auto take = [&](natsMsg* m) {
        std::string_view subject = natsMsg_GetSubject(m);
        for (Unconfirmed& u : unconfirmed_) {
            if (u.reply == subject && u.replies_left > 0) --u.replies_left;
        }
        natsMsg_Destroy(m);
        while (!unconfirmed_.empty() && unconfirmed_.front().replies_left == 0) {
            unconfirmed_.pop_front();
        }
    };
    natsMsg* ready = nullptr;
    while (!unconfirmed_.empty() && natsSubscription_NextMsg(&ready, ack_sub_, 0) == NATS_OK) {
        take(ready);
    }
    while (unconfirmed_.size() > keep) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        natsMsg* m = nullptr;
        if (left.count() <= 0 || natsSubscription_NextMsg(&m, ack_sub_, left.count()) != NATS_OK) {
            uint64_t messages = 0;
            for (const Unconfirmed& u : unconfirmed_) messages += u.messages;
            unconfirmed_.clear();
            metrics_.error("commit").inc();
            return makeError("bus: NATS did not confirm the acknowledgement of {} messages within "
                             "{} ms; they may be delivered again",
                             messages, client_.options().nats_timeout.count());
        }
        take(m);
    }
    return okStatus();
}

}  // namespace vigil::bus
