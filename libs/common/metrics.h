// Metrics registry with Prometheus text exposition. Counters and gauges are lock-free atomics;
// registration takes a lock. A Registry owns its metrics; pointers stay valid for its lifetime.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace vigil::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
public:
    void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

class Gauge {
public:
    void set(double v) { v_.store(v, std::memory_order_relaxed); }
    void add(double d) {
        double cur = v_.load(std::memory_order_relaxed);
        while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
        }
    }
    double value() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> v_{0};
};

class Registry {
public:
    // Returns the counter for (name, labels), creating it on first use. `help` is kept from the
    // first registration of `name`. Names follow Prometheus rules (vigil_agent_records_total).
    Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
    Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
    // A gauge computed at scrape time.
    void callbackGauge(const std::string& name, const std::string& help, std::function<double()> fn,
                       const Labels& labels = {});

    // Prometheus text exposition format 0.0.4.
    std::string renderPrometheus() const;

    // Sum of a counter over all its label sets (0 when unknown).
    uint64_t counterTotal(const std::string& name) const;
    // Value of one counter, 0 when it does not exist.
    uint64_t counterValue(const std::string& name, const Labels& labels = {}) const;

private:
    struct Family {
        std::string help;
        std::string type;
        std::map<std::string, std::unique_ptr<Counter>> counters;  // key: rendered labels
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::function<double()>> callbacks;
    };
    mutable std::mutex mu_;
    std::map<std::string, Family> families_;
};

// Renders labels as {a="x",b="y"} with Prometheus escaping; empty for no labels.
std::string renderLabels(const Labels& labels);

}  // namespace vigil::metrics
