// NATS producer: batching per (partition, family), asynchronous JetStream publishing, append
// completion once every batch holding its messages is acknowledged.
#include "server/bus/nats_producer.h"

#include <algorithm>

#include "libs/common/log.h"

namespace vigil::bus {
namespace {

constexpr size_t kMaxInflightBatches = 256;
constexpr size_t kFamilies = 7;
constexpr size_t kBatchTargetBytes = 1u << 20;

int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

NatsProducer::NatsProducer(NatsClient& client, BusMetrics& metrics)
    : client_(client),
      metrics_(metrics),
      open_(client.partitions() * kFamilies) {}

Result<std::unique_ptr<NatsProducer>> NatsProducer::open(NatsClient& client, BusMetrics& metrics) {
    std::unique_ptr<NatsProducer> p(new NatsProducer(client, metrics));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = client.options().nats_timeout.count();
    jo.PublishAsync.MaxPending = kMaxInflightBatches * 2;  // our own limit is lower: never stalls
    jo.PublishAsync.AckHandler = &NatsProducer::onAck;
    jo.PublishAsync.AckHandlerClosure = p.get();
    natsStatus s = natsConnection_JetStream(&p->js_, client.conn(), &jo);
    if (s != NATS_OK) return natsError(s, "bus: JetStream publishing context");
    const int64_t max_payload = client.maxPayload();
    p->max_batch_bytes_ = static_cast<size_t>(
        std::clamp<int64_t>(max_payload, 4096, static_cast<int64_t>(kBatchTargetBytes)));
    p->thread_ = std::thread([raw = p.get()] { raw->run(); });
    return p;
}

NatsProducer::~NatsProducer() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    work_cv_.notify_all();
    space_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (js_) jsCtx_Destroy(js_);
}

void NatsProducer::appendAsync(std::span<const Message> messages, AppendCallback done) {
    auto* st = new AppendState();
    st->done = std::move(done);
    st->start = Clock::now();
    for (size_t i = 0; i < messages.size(); ++i) {
        const Message& m = messages[i];
        if (m.key.size() > kMaxKeyBytes ||
            natsfmt::kBatchHeaderBytes + natsfmt::entryBytes(m) > max_batch_bytes_) {
            st->error = makeError(
                "bus: message {} too large for NATS (key {} bytes, value {} bytes; a batch may "
                "hold {} bytes, the server's max_payload)",
                i, m.key.size(), m.value.size(), max_batch_bytes_);
            metrics_.error("invalid").inc();
            break;
        }
    }
    std::unique_lock lock(mu_);
    if (!CallbackScope::active()) {
        space_cv_.wait(lock, [&] {
            return stopping_ || pending_bytes_ < client_.options().max_pending_bytes;
        });
    }
    if (stopping_) {
        lock.unlock();
        metrics_.failed_appends.inc();
        st->done(makeError("bus: NATS producer is closing"));
        delete st;
        return;
    }
    if (st->error.message.empty()) {
        const uint32_t partitions = client_.partitions();
        const Message* prev = nullptr;
        KeyPlace* place = nullptr;
        for (const Message& m : messages) {
            const uint32_t p = partitionOf(m.key, partitions);
            const Family f = familyOf(m.data_type);
            const size_t slot = p * kFamilies + static_cast<size_t>(f);
            const size_t n = natsfmt::entryBytes(m);
            if (prev == nullptr || prev->key != m.key) {
                auto it = key_place_.find(m.key);
                if (it == key_place_.end()) it = key_place_.emplace(std::string(m.key), KeyPlace{}).first;
                place = &it->second;  // references stay valid while the map grows
            }
            prev = &m;
            if (place->slot != slot && place->batch_id != 0) {
                // The key changes family: its earlier messages are published first.
                OpenBatch* other = open_[place->slot].get();
                if (other && other->id == place->batch_id) seal(place->slot);
            }
            OpenBatch* b = open_[slot].get();
            if (b && (b->builder.size() + n > max_batch_bytes_ ||
                      b->builder.count() >= natsfmt::kMaxBatchCount)) {
                seal(slot);
                b = nullptr;
            }
            if (!b) {
                open_[slot] = std::make_unique<OpenBatch>();
                b = open_[slot].get();
                b->partition = p;
                b->family = f;
                b->id = next_batch_id_++;
                b->opened = Clock::now();
                b->builder.reset(f);
                open_slots_.push_back(slot);
            }
            b->builder.add(m);
            place->slot = slot;
            place->batch_id = b->id;
            if (b->appends.empty() || b->appends.back() != st) {
                b->appends.push_back(st);
                ++st->outstanding;
            }
            pending_bytes_ += n;
            ++st->messages;
            st->bytes += m.key.size() + m.value.size();
        }
    }
    if (key_place_.size() >= prune_key_places_at_) pruneKeyPlaces();
    ++accepted_;
    if (--st->outstanding == 0) finished_.push_back(st);  // nothing to publish (empty or invalid)
    // The publisher sleeps while batches fill; it wants to know about full ones, idle pipes
    // and appends that complete at once.
    if (!ready_.empty() || inflight_.empty() || !finished_.empty()) work_cv_.notify_one();
}

void NatsProducer::seal(size_t slot) {
    ready_.push_back(std::move(open_[slot]));
    open_slots_.erase(std::find(open_slots_.begin(), open_slots_.end(), slot));
}

void NatsProducer::pruneKeyPlaces() {
    // Keys whose messages were all sealed need no place; many agents keep the map large, so
    // the next prune waits until it has doubled.
    std::erase_if(key_place_, [&](const auto& kv) {
        const OpenBatch* b = open_[kv.second.slot].get();
        return b == nullptr || b->id != kv.second.batch_id;
    });
    prune_key_places_at_ = std::max<size_t>(1u << 16, key_place_.size() * 2);
}

void NatsProducer::flush() {
    std::unique_lock lock(mu_);
    const uint64_t target = accepted_;
    work_cv_.notify_one();
    flushed_cv_.wait(lock, [&] { return completed_ >= target; });
}

void NatsProducer::run() {
    const auto linger = client_.options().nats_linger;
    std::unique_lock lock(mu_);
    for (;;) {
        const bool room = inflight_.size() < kMaxInflightBatches;
        // Open batches go out when the pipe is empty (latency first) or when the oldest has
        // waited `linger` while others were in flight (throughput: batches fill meanwhile).
        Clock::time_point due = Clock::time_point::max();
        for (size_t slot : open_slots_) due = std::min(due, open_[slot]->opened + linger);
        const bool open_due = !open_slots_.empty() && (inflight_.empty() || stopping_ ||
                                                       Clock::now() >= due);
        const bool idle = open_slots_.empty() && ready_.empty() && inflight_.empty() &&
                          acking_ == 0 && finished_.empty();
        if (stopping_ && idle) break;
        if (finished_.empty() && !(room && (!ready_.empty() || open_due))) {
            if (room && !open_slots_.empty()) {
                work_cv_.wait_until(lock, due);
            } else {
                work_cv_.wait(lock);
            }
            continue;
        }
        std::vector<AppendState*> done;
        done.swap(finished_);
        std::vector<std::unique_ptr<OpenBatch>> batches;
        if (room) {
            if (open_due) {
                for (size_t slot : open_slots_) ready_.push_back(std::move(open_[slot]));
                open_slots_.clear();
            }
            while (!ready_.empty() && inflight_.size() + batches.size() < kMaxInflightBatches) {
                pending_bytes_ -= ready_.front()->builder.size() - natsfmt::kBatchHeaderBytes;
                batches.push_back(std::move(ready_.front()));
                ready_.pop_front();
            }
            space_cv_.notify_all();
        }
        const bool connected = client_.connected();
        lock.unlock();
        finish(done);
        for (auto& b : batches) {
            if (connected) {
                publish(std::move(b));
            } else {
                metrics_.error("unavailable").inc();
                std::vector<AppendState*> failed;
                release(*b, Status(client_.disconnectedError()), failed);
                finish(failed);
            }
        }
        lock.lock();
    }
}

void NatsProducer::publish(std::unique_ptr<OpenBatch> batch) {
    const std::string subject = client_.subject(batch->partition, batch->family);
    const std::string_view payload = batch->builder.finish(nowNs());
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                                  static_cast<int>(payload.size()));
    if (s != NATS_OK) {
        metrics_.error("publish").inc();
        std::vector<AppendState*> failed;
        release(*batch, Status(natsError(s, "bus: NATS message")), failed);
        finish(failed);
        return;
    }
    batch->builder = natsfmt::BatchBuilder();  // the message holds its own copy
    natsMsg* key = msg;
    {
        std::lock_guard lock(mu_);
        inflight_.emplace(key, std::move(batch));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = client_.options().nats_timeout.count();
    s = js_PublishMsgAsync(js_, &msg, &po);
    if (s != NATS_OK) {
        std::unique_ptr<OpenBatch> mine;
        {
            std::lock_guard lock(mu_);
            auto it = inflight_.find(key);
            if (it != inflight_.end()) {
                mine = std::move(it->second);
                inflight_.erase(it);
            }
        }
        natsMsg_Destroy(msg);
        metrics_.error("publish").inc();
        if (mine) {
            std::vector<AppendState*> failed;
            release(*mine, Status(natsError(s, fmt::format("bus: publish to {}", subject))), failed);
            finish(failed);
        }
    }
}

void NatsProducer::onAck(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsProducer*>(closure);
    std::unique_ptr<OpenBatch> batch;
    {
        std::lock_guard lock(self->mu_);
        auto it = self->inflight_.find(msg);
        if (it != self->inflight_.end()) {
            batch = std::move(it->second);
            self->inflight_.erase(it);
            ++self->acking_;
        }
    }
    if (batch) {
        Status st;
        if (pa == nullptr) {
            const natsStatus err = pae ? pae->Err : NATS_ERR;
            self->metrics_.error(err == NATS_TIMEOUT ? "timeout" : "publish").inc();
            std::string text = pae && pae->ErrText ? pae->ErrText : natsStatus_GetText(err);
            st = makeError("bus: NATS did not store a batch on {}: {}{}", natsMsg_GetSubject(msg),
                           text, err == NATS_TIMEOUT ? " (no acknowledgement in time)" : "");
        }
        std::vector<AppendState*> done;
        self->release(*batch, st, done);
        self->finish(done);
        std::lock_guard lock(self->mu_);
        --self->acking_;
        self->work_cv_.notify_all();
    }
    natsMsg_Destroy(msg);
}

void NatsProducer::release(OpenBatch& batch, const Status& status, std::vector<AppendState*>& done) {
    std::lock_guard lock(mu_);
    for (AppendState* st : batch.appends) {
        if (!status.ok() && st->error.message.empty()) st->error = status.error();
        if (--st->outstanding == 0) done.push_back(st);
    }
    batch.appends.clear();
}

void NatsProducer::finish(std::vector<AppendState*>& done) {
    if (done.empty()) return;
    const auto now = Clock::now();
    CallbackScope scope;
    for (AppendState* st : done) {
        if (!st->error.message.empty()) {
            metrics_.failed_appends.inc();
            st->done(Status(std::move(st->error)));
        } else {
            metrics_.appends.inc();
            metrics_.appended_messages.inc(st->messages);
            metrics_.appended_bytes.inc(st->bytes);
            metrics_.append_latency_us.inc(static_cast<uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(now - st->start).count()));
            st->done(okStatus());
        }
        delete st;
    }
    std::lock_guard lock(mu_);
    completed_ += done.size();
    done.clear();
    flushed_cv_.notify_all();
}

}  // namespace vigil::bus
