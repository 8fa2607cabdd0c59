// 1010 records from log messages at warn and above.
#include "agent/app/error_log_sink.h"

#include <chrono>
#include <map>
#include <string>

#include "libs/schema/schema.h"
#include "libs/wire/buffer.h"
#include "libs/wire/record.h"

namespace vigil::agent {

void ErrorLogSink::sink_it_(const spdlog::details::log_msg& msg) {
    static thread_local bool inside = false;
    if (msg.level < spdlog::level::warn || inside) return;
    RecordSink* sink = sink_.load();
    if (!sink || !limiter_.allow()) return;
    inside = true;
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(msg.time.time_since_epoch()).count();
    std::map<std::string, std::string> fields{
        {"level", msg.level >= spdlog::level::err ? "error" : "warn"},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
        {"source", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"timestamp", std::to_string(secs)},
    };
    wire::Buffer payload;
    wire::encodePayload(payload, fields);
    sink->put(schema::dt::kAgentLog, secs, payload.view());
    inside = false;
}

}  // namespace vigil::agent
