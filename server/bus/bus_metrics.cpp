// vigil_bus_* metric registration.
#include "server/bus/bus_metrics.h"

namespace vigil::bus {

thread_local int CallbackScope::depth_ = 0;

BusMetrics::BusMetrics(metrics::Registry& r, const std::string& b)
    : registry(r),
      backend(b),
      appended_messages(r.counter("vigil_bus_appended_messages_total",
                                  "Messages durably appended to the bus", {{"backend", b}})),
      appended_bytes(r.counter("vigil_bus_appended_bytes_total",
                               "Bytes (keys and values) durably appended", {{"backend", b}})),
      appends(r.counter("vigil_bus_appends_total", "Append calls completed successfully",
                        {{"backend", b}})),
      append_latency_us(r.counter("vigil_bus_append_latency_microseconds_total",
                                  "Sum of append-to-durable latencies of completed appends",
                                  {{"backend", b}})),
      failed_appends(r.counter("vigil_bus_failed_appends_total",
                               "Append calls completed with an error", {{"backend", b}})),
      fsyncs(r.counter("vigil_bus_fsyncs_total", "fdatasync calls of the embedded log",
                       {{"backend", b}})),
      retention_segments(r.counter("vigil_bus_retention_deleted_segments_total",
                                   "Segments deleted by retention (size or age)",
                                   {{"backend", b}})),
      retention_bytes(r.counter("vigil_bus_retention_deleted_bytes_total",
                                "Bytes deleted by retention", {{"backend", b}})),
      truncated_bytes(r.counter("vigil_bus_truncated_bytes_total",
                                "Torn-tail bytes truncated when the log was opened",
                                {{"backend", b}})),
      pending_bytes(r.gauge("vigil_bus_pending_bytes", "Accepted bytes not yet durable",
                            {{"backend", b}})) {}

metrics::Counter& BusMetrics::error(const std::string& cause) {
    return registry.counter("vigil_bus_errors_total", "Bus errors by cause",
                            {{"backend", backend}, {"cause", cause}});
}

metrics::Counter& BusMetrics::consumed(const std::string& group) {
    return registry.counter("vigil_bus_consumed_messages_total", "Messages fetched by consumers",
                            {{"backend", backend}, {"group", group}});
}

metrics::Counter& BusMetrics::skipped(const std::string& group) {
    return registry.counter("vigil_bus_skipped_messages_total",
                            "Messages a consumer never saw because retention deleted them first",
                            {{"backend", backend}, {"group", group}});
}

}  // namespace vigil::bus
