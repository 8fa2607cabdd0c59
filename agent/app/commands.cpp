// Commands from the center: config sync (plugins, self-upgrade) and tasks.
#include <ctime>

#include <nlohmann/json.hpp>

#include "agent/app/agent.h"
#include "agent/app/upgrade.h"
#include "libs/common/log.h"
#include "libs/schema/schema.h"
#include "libs/wire/buffer.h"
#include "libs/wire/command.h"
#include "libs/wire/record.h"

namespace vigil::agent {
namespace {

constexpr int32_t kTaskUpload = 1050;
constexpr int32_t kTaskSetMetadata = 1051;
constexpr int32_t kTaskRestart = 1060;
constexpr int32_t kTaskRestartPlugin = 1061;

PluginSpec specFromConfig(const wire::CommandConfig& c) {
    PluginSpec p;
    p.name = c.name;
    p.type = c.type.empty() ? "exec" : c.type;
    p.version = c.version;
    p.sha256 = c.sha256;
    p.signature = c.signature;
    p.download_urls = c.download_urls;
    p.detail = c.detail;
    return p;
}

}  // namespace

void Agent::onCommand(const wire::AgentCommand& command) {
    auto log = vigil::log::get("agent");
    if (command.has_task) {
        const wire::CommandTask& t = command.task;
        if (t.object_name == config_.product) {
            int32_t dt = t.data_type;
            std::string data = t.data, token = t.token;
            post([this, dt, data, token] { runAgentTask(dt, data, token); });
        } else {
            auto st = plugins_->sendTask(t.object_name, t.data_type, t.data, t.token);
            if (!st.ok()) {
                log->warn("task {} for plugin '{}' not delivered: {}", t.data_type, t.object_name, st.message());
                taskResult(t.token, false, st.message());
            }
        }
        return;
    }
    // A Command without a task is a config sync: the full desired plugin set.
    std::vector<PluginSpec> specs;
    for (const auto& c : command.configs) specs.push_back(specFromConfig(c));
    post([this, specs = std::move(specs)] { applyConfigSync(specs); });
}

void Agent::applyConfigSync(std::vector<PluginSpec> specs) {
    auto log = vigil::log::get("agent");
    std::vector<PluginSpec> plugins;
    const PluginSpec* self = nullptr;
    for (const auto& s : specs) {
        if (s.name == config_.product) self = &s;
        else plugins.push_back(s);
    }
    if (self && !self->version.empty() && self->version != runtime_.version) {
        log->info("config asks for vigil-agent {} (running {}): upgrading", self->version, runtime_.version);
        UpgradeOptions uo;
        uo.work_dir = config_.work_dir;
        uo.fetch_helper = runtime_.fetch_helper;
        uo.self_exe = runtime_.self_exe;
        uo.product = config_.product;
        uo.max_bytes = config_.plugins.max_download_bytes;
        Status st = installUpgrade(*self, uo);
        if (st.ok()) {
            // Keep the plugin set for the new binary, then re-execute.
            {
                std::lock_guard lock(state_mu_);
                persisted_.have_plugins = true;
                persisted_.plugins = plugins;
            }
            (void)savePersistedState(state_path_, persisted_);
            requestExit(Exit::kRestart);
            return;
        }
        log->error("{}", st.message());
        setAbnormal(st.message());
    }
    Status st = plugins_->sync(plugins);
    {
        std::lock_guard lock(state_mu_);
        persisted_.have_plugins = true;
        persisted_.plugins = plugins;
    }
    Status saved = savePersistedState(state_path_, persisted_);
    if (!saved.ok()) log->warn("cannot save the plugin set: {}", saved.message());
    if (st.ok()) {
        log->info("plugins in sync: {} running", plugins.size());
        if (!self || self->version.empty() || self->version == runtime_.version) setRunning();
    } else {
        log->error("plugin sync: {}", st.message());
        setAbnormal(st.message());
    }
    heartbeat_now_ = true;
}

void Agent::runAgentTask(int32_t data_type, const std::string& data, const std::string& token) {
    auto log = vigil::log::get("agent");
    switch (data_type) {
        case kTaskUpload: {
            std::string path;
            uint64_t cap = config_.plugins.max_download_bytes;
            try {
                auto j = nlohmann::json::parse(data);
                path = j.value("path", "");
                // Elkeid: buf_size bytes per second for at most 600 s.
                if (j.contains("buf_size")) cap = std::min<uint64_t>(cap, j["buf_size"].get<uint64_t>() * 600);
            } catch (const nlohmann::json::exception& e) {
                taskResult(token, false, std::string("task 1050: data must be JSON {\"path\":..}: ") + e.what());
                return;
            }
            if (path.empty() || path.front() != '/') {
                taskResult(token, false, "task 1050: path must be absolute");
                return;
            }
            Status st = center_->uploadFile(path, token, cap);
            taskResult(token, st.ok(), st.ok() ? "uploaded " + path : st.message());
            return;
        }
        case kTaskSetMetadata: {
            nlohmann::json j;
            try {
                j = nlohmann::json::parse(data);
            } catch (const nlohmann::json::exception& e) {
                taskResult(token, false, std::string("task 1051: data must be JSON: ") + e.what());
                return;
            }
            std::string msg;
            if (j.contains("region")) {
                std::string region = j["region"].is_string() ? j["region"].get<std::string>() : "";
                if (!center_->setRegion(region)) {
                    taskResult(token, false, "task 1051: unknown region '" + region + "'");
                    return;
                }
                std::lock_guard lock(state_mu_);
                persisted_.region = region;
                msg += "region=" + region + " ";
            }
            if (j.contains("idc")) {
                if (!j["idc"].is_string()) {
                    taskResult(token, false, "task 1051: idc must be a string");
                    return;
                }
                std::lock_guard lock(state_mu_);
                persisted_.idc = j["idc"].get<std::string>();
                msg += "idc=" + persisted_.idc;
            }
            if (msg.empty()) {
                taskResult(token, false, "task 1051: nothing to set (expected idc and/or region)");
                return;
            }
            Status st = savePersistedState(state_path_, persisted_);
            taskResult(token, st.ok(), st.ok() ? "set " + msg : st.message());
            heartbeat_now_ = true;
            return;
        }
        case kTaskRestart:
            log->info("task 1060: restarting the agent");
            taskResult(token, true, "restarting");
            requestExit(Exit::kRestart);
            return;
        case kTaskRestartPlugin: {
            std::string name;
            try {
                auto j = nlohmann::json::parse(data);
                if (j.is_object() && j.contains("name") && j["name"].is_string()) {
                    name = j["name"].get<std::string>();
                }
            } catch (const nlohmann::json::exception& e) {
                taskResult(token, false,
                           std::string("task 1061: data must be JSON {\"name\": \"<plugin>\"}: ") +
                               e.what());
                return;
            }
            if (name.empty()) {
                taskResult(token, false, "task 1061: data must be JSON {\"name\": \"<plugin>\"}");
                return;
            }
            log->info("task 1061: restarting plugin {}", name);
            Status st = plugins_->restart(name);
            if (!st.ok()) log->warn("task 1061: {}", st.message());
            taskResult(token, st.ok(), st.ok() ? "plugin " + name + " restarted" : st.message());
            heartbeat_now_ = true;
            return;
        }
        default:
            taskResult(token, false,
                       "unknown agent task data_type " + std::to_string(data_type) +
                           " (known: 1050, 1051, 1060, 1061)");
    }
}

void Agent::taskResult(const std::string& token, bool ok, const std::string& msg) {
    std::map<std::string, std::string> fields{{"token", token}, {"status", ok ? "succeed" : "failed"}, {"msg", msg}};
    wire::Buffer payload;
    wire::encodePayload(payload, fields);
    batcher_->put(schema::dt::kTaskResult, static_cast<int64_t>(std::time(nullptr)), payload.view());
}

}  // namespace vigil::agent
