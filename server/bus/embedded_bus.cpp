// EmbeddedBus: ties the writer (when this process writes) and consumers of one bus directory.
#include "server/bus/embedded_bus.h"

#include "libs/common/fs.h"
#include "server/bus/bus_metrics.h"
#include "server/bus/embedded_consumer.h"
#include "server/bus/embedded_writer.h"
#include "server/bus/log_format.h"

namespace vigil::bus {
namespace {

class EmbeddedBus final : public Bus {
public:
    EmbeddedBus(const BusOptions& options, uint32_t partitions, metrics::Registry& registry)
        : options_(options), partitions_(partitions), metrics_(registry, "embedded") {}

    Status start() {
        if (options_.writer) {
            auto w = EmbeddedWriter::open(options_, partitions_, metrics_);
            if (!w.ok()) return w.error();
            producer_ = std::move(*w);
        } else {
            producer_ = std::make_unique<ReadOnlyProducer>(options_.dir);
        }
        return okStatus();
    }

    Producer& producer() override { return *producer_; }
    Result<std::unique_ptr<Consumer>> consumer(const ConsumerOptions& options) override {
        auto c = EmbeddedConsumer::open(options_.dir, partitions_, options, metrics_);
        if (!c.ok()) return c.error();
        return std::unique_ptr<Consumer>(std::move(*c));
    }
    uint32_t partitions() const override { return partitions_; }
    std::string describe() const override {
        return fmt::format("embedded {} ({} partitions{})", options_.dir, partitions_,
                           options_.writer ? "" : ", read-only");
    }

private:
    BusOptions options_;
    uint32_t partitions_;
    BusMetrics metrics_;
    std::unique_ptr<Producer> producer_;
};

}  // namespace

Result<std::unique_ptr<Bus>> openEmbeddedBus(const BusOptions& options, metrics::Registry& registry) {
    if (options.dir.empty()) return makeError("bus: the embedded backend needs a directory (dir)");
    VIGIL_TRY(fs::makeDirs(options.dir));
    auto stored = logfmt::ensureMeta(options.dir, options.partitions);
    if (!stored.ok()) return stored.error();
    // The writer decides where messages go, so it must agree with the directory; readers
    // follow whatever the directory holds.
    if (options.writer && *stored != options.partitions) {
        return makeError("bus {} has {} partitions but the options ask for {} (the partition "
                         "count is fixed for the life of a bus)",
                         options.dir, *stored, options.partitions);
    }
    auto bus = std::make_unique<EmbeddedBus>(options, *stored, registry);
    VIGIL_TRY(bus->start());
    return std::unique_ptr<Bus>(std::move(bus));
}

}  // namespace vigil::bus
