// Kafka output: an idempotent librdkafka producer (acks=all); write() waits for the delivery
// report of every alert of the batch. Semantics in output_sinks.h.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <string_view>

#include "libs/common/log.h"
#include "server/hub/output_sinks.h"

namespace vigil::hub {

namespace {

using Clock = std::chrono::steady_clock;

// Properties the output sets itself: durability (idempotence, acks), the timeout, the brokers.
constexpr std::string_view kReserved[] = {"enable.idempotence",    "acks",
                                          "request.required.acks", "message.timeout.ms",
                                          "delivery.timeout.ms",   "transactional.id",
                                          "bootstrap.servers",     "metadata.broker.list"};

// librdkafka's error text for name=value on `conf`, or "".
std::string setProperty(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
    char err[512] = {};
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
        return err[0] ? err : "refused by librdkafka";
    }
    return {};
}

class KafkaSink final : public AlertSink {
public:
    KafkaSink(KafkaOutput output, metrics::Registry& metrics)
        : output_(std::move(output)),
          name_("kafka " + output_.topic),
          metrics_(metrics, "kafka", output_.topic) {}
    ~KafkaSink() override { destroyProducer(); }
    const char* name() const override { return name_.c_str(); }

    // Makes the producer (no network I/O: librdkafka connects in its own threads).
    Status createProducer() {
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        std::string why;
        auto set = [&](const std::string& k, const std::string& v) {
            if (why.empty()) {
                if (std::string e = setProperty(conf, k, v); !e.empty()) why = k + ": " + e;
            }
        };
        set("bootstrap.servers", output_.brokers);
        set("enable.idempotence", "true");
        set("acks", "all");
        set("message.timeout.ms", std::to_string(output_.timeout.count()));
        set("client.id", "vigil-hub");
        for (const auto& [k, v] : output_.properties) set(k, v);
        if (!why.empty()) {
            rd_kafka_conf_destroy(conf);
            return Error{why};
        }
        rd_kafka_conf_set_opaque(conf, this);
        rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::onDelivery);
        rd_kafka_conf_set_error_cb(conf, &KafkaSink::onError);
        rd_kafka_conf_set_log_cb(conf, &KafkaSink::onLog);
        char err[512] = {};
        rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (rk_ == nullptr) {
            rd_kafka_conf_destroy(conf);
            return Error{std::string("cannot make the producer: ") + err};
        }
        rkt_ = rd_kafka_topic_new(rk_, output_.topic.c_str(), nullptr);
        if (rkt_ == nullptr) {
            const std::string e = rd_kafka_err2str(rd_kafka_last_error());
            destroyProducer();
            return Error{"topic " + output_.topic + ": " + e};
        }
        fatal_ = false;
        return {};
    }

    Status write(const std::vector<Alert>& alerts) override {
        if (alerts.empty()) return {};
        Status st = produceAndWait(alerts);
        if (!st.ok()) {
            metrics_.errors.inc();
            return Error{name_ + ": " + st.message()};
        }
        return {};
    }

private:
    Status produceAndWait(const std::vector<Alert>& alerts) {
        if (fatal_) {
            // Idempotence cannot be recovered on this producer: start a new one.
            log::get("hub")->warn("{}: making a new producer after a fatal error", name_);
            destroyProducer();
            VIGIL_TRY(createProducer());
        }
        const auto deadline = Clock::now() + output_.timeout;
        ++batch_;
        pending_ = 0;
        failed_ = 0;
        first_failure_.clear();
        client_error_.clear();
        void* const batch_tag = reinterpret_cast<void*>(static_cast<uintptr_t>(batch_));
        for (const auto& a : alerts) {
            for (;;) {
                const rd_kafka_resp_err_t err = rd_kafka_producev(
                    rk_, RD_KAFKA_V_RKT(rkt_), RD_KAFKA_V_KEY(a.agent_id.data(), a.agent_id.size()),
                    RD_KAFKA_V_VALUE(const_cast<char*>(a.json.data()), a.json.size()),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(batch_tag),
                    RD_KAFKA_V_END);
                if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                    ++pending_;
                    break;
                }
                if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    return giveUp(std::string("produce: ") + rd_kafka_err2str(err));
                }
                // The local queue is full: serve delivery reports until it has room.
                if (Clock::now() >= deadline) return giveUp("local queue full until the timeout");
                rd_kafka_poll(rk_, 50);
            }
        }
        while (pending_ > 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0) break;
            rd_kafka_poll(rk_, static_cast<int>(std::min<int64_t>(left.count(), 100)));
        }
        if (pending_ > 0) {
            return giveUp(fmt::format("{} of {} alerts not acknowledged within {} ms", pending_,
                                      alerts.size(), output_.timeout.count()));
        }
        if (failed_ > 0) {
            return giveUp(fmt::format("{} of {} alerts not delivered: {}", failed_, alerts.size(),
                                      first_failure_));
        }
        return {};
    }

    // Drops what is still queued locally (the service writes the batch again) and names the
    // last client-level error (brokers down, authentication...) with the cause.
    Error giveUp(std::string why) {
        ++batch_;  // reports for the abandoned batch no longer count
        rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE);
        rd_kafka_poll(rk_, 0);
        if (!client_error_.empty()) why += " (client: " + client_error_ + ")";
        if (fatal_) why += " (fatal: a new producer is made for the next write)";
        return Error{why};
    }

    static void onDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        auto* self = static_cast<KafkaSink*>(opaque);
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) self->metrics_.messages.inc();
        if (reinterpret_cast<uintptr_t>(m->_private) != self->batch_) return;
        --self->pending_;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (self->failed_++ == 0) self->first_failure_ = rd_kafka_err2str(m->err);
        }
    }

    // Served by rd_kafka_poll on the writing thread.
    static void onError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
        auto* self = static_cast<KafkaSink*>(opaque);
        self->client_error_ = reason;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            char buf[512] = {};
            rd_kafka_fatal_error(rk, buf, sizeof(buf));
            self->client_error_ = buf;
            self->fatal_ = true;
        }
        VIGIL_LOG_RATE_LIMITED(log::get("hub"), spdlog::level::warn, "{}: {}", self->name_,
                               self->client_error_);
    }

    // From librdkafka's threads.
    static void onLog(const rd_kafka_t*, int level, const char* facility, const char* text) {
        const auto lvl = level <= 3   ? spdlog::level::err
                         : level <= 5 ? spdlog::level::warn
                         : level == 6 ? spdlog::level::info
                                      : spdlog::level::debug;
        VIGIL_LOG_RATE_LIMITED(log::get("kafka"), lvl, "{}: {}", facility, text);
    }

    void destroyProducer() {
        if (rk_ == nullptr) return;
        // Bounded: messages of a failed batch still queued are dropped (they are uncommitted).
        rd_kafka_flush(rk_, 2000);
        rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk_, 0);
        if (rkt_ != nullptr) rd_kafka_topic_destroy(rkt_);
        rd_kafka_destroy(rk_);
        rkt_ = nullptr;
        rk_ = nullptr;
    }

    KafkaOutput output_;
    std::string name_;
    OutputMetrics metrics_;
    rd_kafka_t* rk_ = nullptr;
    rd_kafka_topic_t* rkt_ = nullptr;
    // The batch being written; delivery reports of earlier ones only count in the metrics.
    uint64_t batch_ = 0;
    size_t pending_ = 0;
    size_t failed_ = 0;
    std::string first_failure_;
    std::string client_error_;
    bool fatal_ = false;
};

}  // namespace

std::string kafkaPropertyProblem(const std::string& name, const std::string& value) {
    for (std::string_view r : kReserved) {
        if (name == r) {
            return "set by the kafka output itself (brokers, timeout; idempotence and acks=all "
                   "are its durability)";
        }
    }
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    std::string why = setProperty(conf, name, value);
    rd_kafka_conf_destroy(conf);
    return why;
}

Result<std::unique_ptr<AlertSink>> openKafkaSink(const KafkaOutput& output,
                                                 metrics::Registry& metrics) {
    if (output.brokers.empty()) return Error{"kafka output: no brokers"};
    if (output.topic.empty()) return Error{"kafka output: no topic"};
    for (const auto& [k, v] : output.properties) {
        if (std::string why = kafkaPropertyProblem(k, v); !why.empty()) {
            return makeError("kafka output {}: property {}: {}", output.topic, k, why);
        }
    }
    auto sink = std::make_unique<KafkaSink>(output, metrics);
    Status st = sink->createProducer();
    if (!st.ok()) return makeError("kafka output {}: {}", output.topic, st.message());
    return std::unique_ptr<AlertSink>(std::move(sink));
}

}  // namespace vigil::hub
