// The manager API's task routes: a task for many hosts is stored with one result per host, sent
// through the center each host is connected to (POST /command/ with the task id as token), and
// completed by the 5100 results the ingest records (docs/manager.md "Tasks").
#include <map>
#include <mutex>
#include <thread>

#include "libs/common/crypto.h"
#include "server/manager/api/api_views.h"
#include "server/manager/api/cluster_views.h"
#include "server/manager/api/manager_api.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMaxTaskHosts = 10000;
constexpr size_t kMaxTaskData = 64 * 1024;
constexpr size_t kMaxCommentBytes = 4096;
// The agent's own tasks go to its product name (DESIGN.md §3); 1060 restarts the agent, 1061
// one of its plugins ({"name": plugin}).
constexpr const char* kAgentProduct = "vigil-agent";
constexpr int32_t kAgentRestart = 1060;
constexpr int32_t kPluginRestart = 1061;
constexpr size_t kMaxPluginName = 128;

// Result statuses the manager sets itself (the agent's 5100 sets succeeded / failed).
constexpr const char* kTaskSent = "sent";
constexpr const char* kTaskUnreachable = "unreachable";
constexpr const char* kTaskSendFailed = "send_failed";

json taskJson(const Task& t) {
    return {{"task_id", t.task_id},
            {"agent_ids", t.agent_ids},
            {"data_type", t.data_type},
            {"name", t.object_name},
            {"data", t.payload},
            {"created_by", t.created_by},
            {"created_at_ms", t.created_at_ms},
            {"status_counts", t.status_counts}};
}

json resultJson(const TaskResult& r) {
    json result =
        r.result_json.empty() ? json(nullptr) : json::parse(r.result_json, nullptr, false);
    if (result.is_discarded()) result = r.result_json;
    return {
        {"agent_id", r.agent_id}, {"status", r.status}, {"result", result}, {"time_ms", r.time_ms}};
}

// A task with each host's result and hostname (absent for hosts the store no longer has).
Result<json> taskWithResults(Store& store, json task, const std::string& task_id) {
    auto results = store.taskResults(task_id);
    if (!results.ok()) return results.error();
    std::vector<std::string> ids;
    for (const auto& r : *results) ids.push_back(r.agent_id);
    auto names = store.hostnames(ids);
    if (!names.ok()) return names.error();
    task["results"] = json::array();
    for (const auto& r : *results) {
        json one = resultJson(r);
        if (auto it = names->find(r.agent_id); it != names->end() && !it->second.empty()) {
            one["hostname"] = it->second;
        }
        task["results"].push_back(std::move(one));
    }
    return task;
}

TaskResult resultOf(const Task& t, const std::string& agent, const char* status,
                    const std::string& msg, int64_t now) {
    return TaskResult{t.task_id, agent, status, msg.empty() ? "" : json{{"msg", msg}}.dump(), now};
}

}  // namespace

void ManagerApi::addTaskRoutes() {
    // Creates, stores and dispatches one task; the reply of POST /api/v1/tasks.
    auto run = [this](Task task, const std::string& comment, const Session& s) {
        cluster::ClusterClient* cluster = services_.cluster;
        task.task_id = crypto::randomHex(16);
        task.created_by = s.username;
        task.created_at_ms = auth_.now();
        auto created = store_.createTask(task);
        if (!created.ok()) return storeError(created.error());
        // Where each host is; hosts on no center fail at once, the others are marked sent
        // before the command goes out, so a fast 5100 result is never overwritten.
        const auto where = cluster->locateAgents();
        std::string center_problems;
        for (const auto& [center, problem] : where.center_errors) {
            center_problems += (center_problems.empty() ? "" : "; ") + problem;
        }
        IngestBatch first;
        size_t unreachable = 0;
        for (const auto& agent : task.agent_ids) {
            auto it = where.center_of.find(agent);
            if (it == where.center_of.end()) {
                std::string msg = "not connected to any center";
                if (!center_problems.empty()) msg += " (unreachable: " + center_problems + ")";
                ++unreachable;
                first.task_results.push_back(
                    resultOf(task, agent, kTaskUnreachable, msg, task.created_at_ms));
            } else {
                first.task_results.push_back(resultOf(
                    task, agent, kTaskSent, "via center " + it->second, task.created_at_ms));
            }
        }
        if (auto r = store_.ingest(first); !r.ok()) return storeError(r.error());
        // One sender per center, so that a slow center does not hold up the others' hosts.
        std::map<std::string, std::vector<std::string>> by_center;
        for (const auto& agent : task.agent_ids) {
            auto it = where.center_of.find(agent);
            if (it != where.center_of.end()) by_center[it->second].push_back(agent);
        }
        std::mutex mu;
        IngestBatch failed;
        size_t sent = 0;
        std::vector<std::thread> senders;
        for (const auto& [center, agents] : by_center) {
            senders.emplace_back([&, &center = center, &agents = agents] {
                for (const auto& agent : agents) {
                    json body = {{"agent_id", agent},
                                 {"command",
                                  {{"task",
                                    {{"data_type", task.data_type},
                                     {"name", task.object_name},
                                     {"data", task.payload},
                                     {"token", task.task_id}}}}}};
                    auto answer = cluster->call(center, "POST", "/command/", body.dump());
                    std::lock_guard lock(mu);
                    if (answer.ok()) {
                        ++sent;
                    } else {
                        failed.task_results.push_back(
                            resultOf(task, agent, kTaskSendFailed, answer.message(), auth_.now()));
                    }
                }
            });
        }
        for (auto& t : senders) t.join();
        if (!failed.task_results.empty()) {
            if (auto r = store_.ingest(failed); !r.ok()) return storeError(r.error());
        }
        json detail = {
            {"name", task.object_name},       {"data_type", task.data_type},
            {"hosts", task.agent_ids.size()}, {"sent", sent},
            {"unreachable", unreachable},     {"send_failed", failed.task_results.size()}};
        if (!comment.empty()) detail["comment"] = comment;
        audit(s.username, "task.create", task.task_id, detail);
        auto stored = store_.getTask(task.task_id);
        if (!stored.ok()) return storeError(stored.error());
        auto data =
            taskWithResults(store_, *stored ? taskJson(**stored) : taskJson(task), task.task_id);
        if (!data.ok()) return storeError(data.error());
        ApiReply a = ApiReply::ok(std::move(*data));
        a.status = 201;
        return a;
    };

    add("POST", "/api/v1/tasks", Role::kOperator,
        [this, run](const ApiRequest& req, const Session& s) {
            JsonFields f(req.json);
            Task t;
            t.agent_ids = agentIdsField(f, "agent_ids", true, kMaxTaskHosts);
            t.object_name = f.string("name", true, 128);
            t.data_type = static_cast<int32_t>(f.integer("data_type", true, 0, INT32_MAX));
            t.payload = f.string("data", false, kMaxTaskData);
            std::string comment = f.string("comment", false, kMaxCommentBytes);
            if (f.ok() && t.agent_ids.empty()) f.fail("agent_ids", "must name at least one host");
            if (f.ok() && t.object_name.empty()) {
                f.fail("name", "must be a plugin name or vigil-agent");
            }
            if (!f.ok()) return f.badRequest();
            if (!services_.cluster) return noCluster();
            return run(std::move(t), comment, s);
        });

    // Agent tasks on a host list: POST {agent_ids, comment?} plus what `extra` reads into the
    // task (agent task `data_type`; docs/agent.md "Commands and tasks").
    auto agent_task = [this, run](int32_t data_type, auto extra) {
        return [this, run, data_type, extra](const ApiRequest& req, const Session& s) {
            JsonFields f(req.json);
            Task t;
            t.agent_ids = agentIdsField(f, "agent_ids", true, kMaxTaskHosts);
            std::string comment = f.string("comment", false, kMaxCommentBytes);
            if (f.ok() && t.agent_ids.empty()) f.fail("agent_ids", "must name at least one host");
            extra(f, t);
            if (!f.ok()) return f.badRequest();
            if (!services_.cluster) return noCluster();
            t.object_name = kAgentProduct;
            t.data_type = data_type;
            return run(std::move(t), comment, s);
        };
    };
    // 1060: the agent re-executes itself, restarting its plugins.
    add("POST", "/api/v1/tasks/agent-restart", Role::kOperator,
        agent_task(kAgentRestart, [](JsonFields&, Task&) {}));
    // 1061: the agent stops one plugin gracefully and starts it again, keeping its config.
    add("POST", "/api/v1/tasks/plugin-restart", Role::kOperator,
        agent_task(kPluginRestart, [](JsonFields& f, Task& t) {
            std::string plugin = f.string("plugin", true, kMaxPluginName);
            if (f.ok() && !validName(plugin, kMaxPluginName, false)) {
                f.fail("plugin", "must be a plugin name (1-128 of [A-Za-z0-9_-])");
            }
            if (f.ok() && plugin == kAgentProduct) {
                f.fail("plugin", "names the agent: use /api/v1/tasks/agent-restart");
            }
            t.payload = json{{"name", plugin}}.dump();
        }));

    add(
        "GET", "/api/v1/tasks", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            TaskQuery q;
            std::string problem;
            read(textParam(req, "created_by", kMaxFilterBytes), q.created_by, problem);
            read(textParam(req, "name", kMaxFilterBytes), q.name, problem);
            read(textParam(req, "agent_id", kMaxFilterBytes), q.agent_id, problem);
            int64_t data_type = 0;
            read(server::intParam(req, "data_type", 0, 0, INT32_MAX), data_type, problem);
            q.data_type = static_cast<int32_t>(data_type);
            readTimeOrderedList(req, q, problem);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            auto page = store_.listTasks(q);
            if (!page.ok()) return storeError(page.error());
            return ApiReply::ok(pageJson(*page, taskJson));
        },
        Body::kRaw);

    add(
        "GET", "/api/v1/tasks/:id", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            const std::string& id = req.path_params.at("id");
            auto task = store_.getTask(id);
            if (!task.ok()) return storeError(task.error());
            if (!*task) return ApiReply::notFound("no task " + id);
            auto data = taskWithResults(store_, taskJson(**task), id);
            if (!data.ok()) return storeError(data.error());
            return ApiReply::ok(std::move(*data));
        },
        Body::kRaw);
}

}  // namespace vigil::manager::api
