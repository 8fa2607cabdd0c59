// NatsBus: the NATS connection, its producer and the consumers made from it.
#include "server/bus/nats_bus.h"

#include "server/bus/bus_metrics.h"
#include "server/bus/embedded_writer.h"
#include "server/bus/nats_client.h"
#include "server/bus/nats_consumer.h"
#include "server/bus/nats_producer.h"

namespace vigil::bus {
namespace {

class NatsBus final : public Bus {
public:
    NatsBus(const BusOptions& options, metrics::Registry& registry)
        : options_(options), metrics_(registry, "nats") {}
    ~NatsBus() override {
        producer_.reset();  // drains before the connection goes
        client_.reset();
    }

    Status start() {
        auto c = NatsClient::connect(options_, metrics_);
        if (!c.ok()) return c.error();
        client_ = std::move(*c);
        if (options_.writer) {
            auto p = NatsProducer::open(*client_, metrics_);
            if (!p.ok()) return p.error();
            producer_ = std::move(*p);
        } else {
            producer_ = std::make_unique<ReadOnlyProducer>("nats " + options_.stream);
        }
        return okStatus();
    }

    Producer& producer() override { return *producer_; }
    Result<std::unique_ptr<Consumer>> consumer(const ConsumerOptions& options) override {
        auto c = NatsConsumer::open(*client_, options, metrics_);
        if (!c.ok()) return c.error();
        return std::unique_ptr<Consumer>(std::move(*c));
    }
    uint32_t partitions() const override { return client_->partitions(); }
    std::string describe() const override {
        return fmt::format("nats {} stream {} ({} partitions)", options_.nats_url, options_.stream,
                           client_->partitions());
    }

private:
    BusOptions options_;
    BusMetrics metrics_;
    std::unique_ptr<NatsClient> client_;
    std::unique_ptr<Producer> producer_;
};

}  // namespace

Result<std::unique_ptr<Bus>> openNatsBus(const BusOptions& options, metrics::Registry& registry) {
    auto bus = std::make_unique<NatsBus>(options, registry);
    VIGIL_TRY(bus->start());
    return std::unique_ptr<Bus>(std::move(bus));
}

}  // namespace vigil::bus
