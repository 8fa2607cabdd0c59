// Prometheus text rendering for the metrics registry.
#include "libs/common/metrics.h"

#include <cmath>
#include <fmt/format.h>

namespace vigil::metrics {

std::string renderLabels(const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
        if (!first) out += ",";
        first = false;
        out += k;
        out += "=\"";
        for (char c : v) {
            if (c == '\\') out += "\\\\";
            else if (c == '"') out += "\\\"";
            else if (c == '\n') out += "\\n";
            else out += c;
        }
        out += "\"";
    }
    out += "}";
    return out;
}

Counter& Registry::counter(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mu_);
    Family& f = families_[name];
    if (f.type.empty()) {
        f.type = "counter";
        f.help = help;
    }
    auto& slot = f.counters[renderLabels(labels)];
    if (!slot) slot = std::make_unique<Counter>();
    return *slot;
}

Gauge& Registry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mu_);
    Family& f = families_[name];
    if (f.type.empty()) {
        f.type = "gauge";
        f.help = help;
    }
    auto& slot = f.gauges[renderLabels(labels)];
    if (!slot) slot = std::make_unique<Gauge>();
    return *slot;
}

void Registry::callbackGauge(const std::string& name, const std::string& help, std::function<double()> fn,
                             const Labels& labels) {
    std::lock_guard lock(mu_);
    Family& f = families_[name];
    if (f.type.empty()) {
        f.type = "gauge";
        f.help = help;
    }
    f.callbacks[renderLabels(labels)] = std::move(fn);
}

static std::string formatDouble(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
    return fmt::format("{}", v);
}

std::string Registry::renderPrometheus() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& [name, f] : families_) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
        for (const auto& [labels, c] : f.counters) out += fmt::format("{}{} {}\n", name, labels, c->value());
        for (const auto& [labels, g] : f.gauges) out += fmt::format("{}{} {}\n", name, labels, formatDouble(g->value()));
        for (const auto& [labels, fn] : f.callbacks) out += fmt::format("{}{} {}\n", name, labels, formatDouble(fn()));
    }
    return out;
}

uint64_t Registry::counterTotal(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    if (it == families_.end()) return 0;
    uint64_t sum = 0;
    for (const auto& [labels, c] : it->second.counters) sum += c->value();
    return sum;
}

uint64_t Registry::counterValue(const std::string& name, const Labels& labels) const {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    if (it == families_.end()) return 0;
    auto c = it->second.counters.find(renderLabels(labels));
    return c == it->second.counters.end() ? 0 : c->second->value();
}

}  // namespace vigil::metrics
