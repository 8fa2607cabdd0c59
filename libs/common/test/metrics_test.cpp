// Metrics registry and Prometheus exposition.
#include "libs/common/metrics.h"

#include <gtest/gtest.h>

namespace vigil::metrics {
namespace {

TEST(Metrics, RendersCountersGaugesAndLabels) {
    Registry r;
    r.counter("vigil_records_total", "Records received", {{"plugin", "driver"}}).inc(3);
    r.counter("vigil_records_total", "ignored", {{"plugin", "col\"lector"}}).inc();
    r.gauge("vigil_spool_bytes", "Spool size").set(1024);
    r.callbackGauge("vigil_up", "Always one", [] { return 1.0; });
    std::string text = r.renderPrometheus();
    EXPECT_NE(text.find("# HELP vigil_records_total Records received\n# TYPE vigil_records_total counter\n"),
              std::string::npos);
    EXPECT_NE(text.find("vigil_records_total{plugin=\"driver\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("vigil_records_total{plugin=\"col\\\"lector\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("vigil_spool_bytes 1024\n"), std::string::npos);
    EXPECT_NE(text.find("vigil_up 1\n"), std::string::npos);
    EXPECT_EQ(r.counterTotal("vigil_records_total"), 4u);
    EXPECT_EQ(r.counterValue("vigil_records_total", {{"plugin", "driver"}}), 3u);
    EXPECT_EQ(r.counterValue("nope"), 0u);
}

TEST(Metrics, SameNameAndLabelsIsTheSameCounter) {
    Registry r;
    Counter& a = r.counter("c", "h", {{"k", "v"}});
    Counter& b = r.counter("c", "h", {{"k", "v"}});
    EXPECT_EQ(&a, &b);
}

}  // namespace
}  // namespace vigil::metrics
