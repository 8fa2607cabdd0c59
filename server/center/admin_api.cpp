// Admin API handlers.
#include "server/center/admin_api.h"

#include <algorithm>
#include <random>

#include "libs/common/log.h"

namespace vigil::center {
namespace {

using server::ApiReply;
using server::ApiRequest;
using server::JsonFields;
using nlohmann::json;

json connJson(const AgentConnection::Info& i) {
    return json{{"agent_id", i.agent_id},
                {"addr", i.peer},
                {"cert_cn", i.cert_cn},
                {"hostname", i.hostname},
                {"version", i.version},
                {"product", i.product},
                {"intranet_ipv4", i.intranet_ipv4},
                {"extranet_ipv4", i.extranet_ipv4},
                {"intranet_ipv6", i.intranet_ipv6},
                {"extranet_ipv6", i.extranet_ipv6},
                {"create_at", i.connected_at},
                {"last_batch_time", i.last_batch_at},
                {"batches", i.batches},
                {"records", i.records},
                {"bytes", i.bytes},
                {"acked_seq", i.acked_seq},
                {"commands", i.commands}};
}

// POST /command/ body (Elkeid): {"agent_id": "...", "command": {"agent_ctrl": 0,
//   "task": {"data_type": 1050, "name"|"object_name": "...", "data": "...", "token": "..."},
//   "config": [{"name", "type", "version", "sha256", "signature", "download_url": [...], "detail"}]}}
ApiReply postCommand(const AdminApiContext& ctx, const ApiRequest& req) {
    JsonFields body(req.json);
    std::string agent_id = body.string("agent_id", true, 256);
    const json* command = body.object("command", true);
    if (!body.ok()) return body.badRequest();
    JsonFields cf(*command, "body.command");
    wire::AgentCommand cmd;
    cmd.agent_ctrl = static_cast<int32_t>(cf.integer("agent_ctrl", false, INT32_MIN, INT32_MAX, 0));
    if (const json* task = cf.object("task", false)) {
        JsonFields tf(*task, "body.command.task");
        cmd.has_task = true;
        cmd.task.data_type = static_cast<int32_t>(tf.integer("data_type", true, INT32_MIN, INT32_MAX));
        cmd.task.object_name = tf.string("object_name", false, 256);
        if (cmd.task.object_name.empty()) cmd.task.object_name = tf.string("name", false, 256);
        cmd.task.data = tf.string("data", false, 1 << 20);
        cmd.task.token = tf.string("token", false, 256);
        if (!tf.ok()) return tf.badRequest();
        if (cmd.task.object_name.empty()) return ApiReply::badRequest("body.command.task.name: the target plugin (or " + ctx.product + ") is required");
    }
    if (const json* configs = cf.array("config", false, 1024)) {
        size_t i = 0;
        for (const auto& item : *configs) {
            JsonFields f(item, "body.command.config[" + std::to_string(i++) + "]");
            wire::CommandConfig c;
            c.name = f.string("name", true, 128);
            c.type = f.string("type", false, 16);
            c.version = f.string("version", false, 128);
            c.sha256 = f.string("sha256", false, 64);
            c.signature = f.string("signature", false, 64);
            c.detail = f.string("detail", false, 1 << 20);
            if (const json* urls = f.array("download_url", false, 64)) {
                for (const auto& u : *urls) {
                    if (!u.is_string()) return ApiReply::badRequest(f.where() + ".download_url: every entry must be a string");
                    c.download_urls.push_back(u.get<std::string>());
                }
            }
            if (!f.ok()) return f.badRequest();
            cmd.configs.push_back(std::move(c));
        }
    }
    if (!cf.ok()) return cf.badRequest();
    if (!cmd.has_task && cmd.configs.empty() && cmd.agent_ctrl == 0) {
        return ApiReply::badRequest("body.command: needs a task or config entries (an empty config would stop every plugin; "
                                    "send \"config\": [] explicitly to mean that)");
    }
    auto conn = ctx.registry->find(agent_id);
    if (!conn) return ApiReply::error(404, "agent " + agent_id + " is not connected to this center");
    if (cmd.has_task && cmd.task.data_type == 1050 && cmd.task.object_name == ctx.product && ctx.uploads) {
        if (cmd.task.token.empty()) return ApiReply::badRequest("body.command.task.token: task 1050 needs a token");
        std::string path;
        try {
            auto d = json::parse(cmd.task.data);
            if (d.is_object() && d.contains("path") && d["path"].is_string()) path = d["path"].get<std::string>();
        } catch (const json::exception&) {
        }
        ctx.uploads->issue(cmd.task.token, agent_id, path);
    }
    if (!conn->sendCommand(cmd)) return ApiReply::error(503, "agent " + agent_id + " is disconnecting");
    return ApiReply::ok();
}

}  // namespace

void addAdminRoutes(server::ApiRouter& router, AdminApiContext ctx) {
    using server::Auth;
    router.get("/conn/stat", [ctx](const ApiRequest&) {
        json list = json::array();
        for (const auto& c : ctx.registry->all()) list.push_back(connJson(c->info()));
        return ApiReply::ok(std::move(list));
    }, Auth::kSigned);
    router.get("/conn/list", [ctx](const ApiRequest&) { return ApiReply::ok(ctx.registry->agentIds()); }, Auth::kSigned);
    router.get("/conn/count", [ctx](const ApiRequest&) {
        return ApiReply::ok(json(ctx.registry->agents()));
    }, Auth::kSigned);
    // {"type": "strict", "id_list": [...]} resets those agents; {"type": "random", "count": N}
    // resets N random ones (rebalancing after a new center joins).
    router.post("/conn/reset", [ctx](const ApiRequest& req) {
        JsonFields f(req.json);
        std::string type = f.string("type", true, 16);
        if (!f.ok()) return f.badRequest();
        json reset = json::array(), missing = json::array();
        if (type == "strict") {
            const json* ids = f.array("id_list", true, 100000);
            if (!f.ok()) return f.badRequest();
            for (const auto& id : *ids) {
                if (!id.is_string()) return ApiReply::badRequest("body.id_list: every entry must be a string");
                if (auto c = ctx.registry->find(id.get<std::string>())) {
                    c->reset("reset by the admin API");
                    reset.push_back(id);
                } else {
                    missing.push_back(id);
                }
            }
        } else if (type == "random") {
            int64_t count = f.integer("count", true, 1, 1000000);
            if (!f.ok()) return f.badRequest();
            auto all = ctx.registry->all();
            std::shuffle(all.begin(), all.end(), std::mt19937_64(std::random_device{}()));
            for (size_t i = 0; i < all.size() && static_cast<int64_t>(i) < count; ++i) {
                reset.push_back(all[i]->info().agent_id);
                all[i]->reset("rebalanced by the admin API");
            }
        } else {
            return ApiReply::badRequest("body.type: must be strict or random, got \"" + type + "\"");
        }
        return ApiReply::ok(json{{"reset", reset}, {"not_found", missing}});
    }, Auth::kSigned);
    router.post("/command", [ctx](const ApiRequest& req) { return postCommand(ctx, req); }, Auth::kSigned);
    // Totals for the manager's services view (it derives the rates between two looks).
    router.get("/stats", [ctx, &metrics = router.metrics()](const ApiRequest&) {
        return ApiReply::ok(json{{"agents", ctx.registry->agents()},
                                 {"streams", ctx.registry->streams()},
                                 {"max_connections", ctx.registry->maxConnections()},
                                 {"batches_total", metrics.counterTotal("vigil_center_batches_total")},
                                 {"records_total", metrics.counterTotal("vigil_center_records_total")},
                                 {"errors_total", metrics.counterTotal("vigil_center_errors_total")},
                                 {"commands_total", metrics.counterTotal("vigil_center_commands_total")},
                                 {"config_pushes_total", metrics.counterTotal("vigil_center_config_pushes_total")}});
    }, Auth::kSigned);
    router.post("/plugins/reload", [ctx](const ApiRequest&) {
        if (!ctx.pusher || !ctx.pusher->enabled()) return ApiReply::error(404, "no plugin config is configured");
        auto n = ctx.pusher->reloadAndPush();
        if (!n.ok()) return ApiReply::badRequest(n.message());
        return ApiReply::ok(json{{"pushed", *n}});
    }, Auth::kSigned);
}

}  // namespace vigil::center
