// SqlStore's tasks and their per-host results.
#include <set>

#include <nlohmann/json.hpp>

#include "server/manager/store/cursor.h"
#include "server/manager/store/sql_store.h"

namespace vigil::manager {

namespace {

constexpr const char* kTaskColumns =
    "task_id, agent_ids, data_type, object_name, payload, created_by, created_at_ms";
constexpr const char* kTaskCursor = "tasks";
constexpr const char* kTaskCursorOldest = "tasks-oldest";

Task taskFromRow(const sql::Rows& rows, size_t r) {
    Task t;
    t.task_id = rows.text(r, 0);
    auto ids = nlohmann::json::parse(rows.text(r, 1), nullptr, false);
    if (ids.is_array()) {
        for (const auto& id : ids) {
            if (id.is_string()) t.agent_ids.push_back(id.get<std::string>());
        }
    }
    t.data_type = static_cast<int32_t>(rows.integer(r, 2));
    t.object_name = rows.text(r, 3);
    t.payload = rows.text(r, 4);
    t.created_by = rows.text(r, 5);
    t.created_at_ms = rows.integer(r, 6);
    return t;
}

// Fills status_counts of `tasks` from their results.
Status countResults(sql::Connection& c, std::vector<Task>& tasks) {
    if (tasks.empty()) return okStatus();
    sql::Params ids;
    for (const auto& t : tasks) ids.push_back(t.task_id);
    auto rows = c.query(fmt::format("SELECT task_id, status, COUNT(*) FROM task_results "
                                    "WHERE task_id IN ({}) GROUP BY task_id, status",
                                    sql::placeholders(ids.size())),
                        ids);
    if (!rows.ok()) return rows.error();
    for (size_t r = 0; r < rows->size(); ++r) {
        const std::string id = rows->text(r, 0);
        for (auto& t : tasks) {
            if (t.task_id == id) t.status_counts[rows->text(r, 1)] = rows->integer(r, 2);
        }
    }
    return okStatus();
}

}  // namespace

Result<bool> SqlStore::createTask(const Task& task) {
    if (task.task_id.empty()) return makeError("a task needs a task_id");
    const std::set<std::string> agents(task.agent_ids.begin(), task.agent_ids.end());
    const int64_t at = task.created_at_ms ? task.created_at_ms : now();
    bool created = false;
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        auto n =
            c.execute(fmt::format("INSERT INTO tasks ({}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                                  "ON CONFLICT (task_id) DO NOTHING",
                                  kTaskColumns),
                      {task.task_id, nlohmann::json(task.agent_ids).dump(), int64_t{task.data_type},
                       task.object_name, task.payload, task.created_by, at});
        if (!n.ok()) return n.error();
        created = *n > 0;
        if (!created) return okStatus();
        sql::Params values;
        for (const auto& agent : agents) {
            values.insert(values.end(), {task.task_id, agent, std::string(kTaskPending), at});
        }
        auto added =
            insertRows(c, "INSERT INTO task_results (task_id, agent_id, status, time_ms) VALUES ",
                       "", 4, values);
        return added.ok() ? okStatus() : Status(added.error());
    }));
    return created;
}

Result<std::optional<Task>> SqlStore::getTask(const std::string& task_id) {
    std::optional<Task> task;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows =
            c.query(fmt::format("SELECT {} FROM tasks WHERE task_id = ?", kTaskColumns), {task_id});
        if (!rows.ok()) return rows.error();
        if (rows->empty()) return okStatus();
        std::vector<Task> one{taskFromRow(*rows, 0)};
        VIGIL_TRY(countResults(c, one));
        task = std::move(one.front());
        return okStatus();
    }));
    return task;
}

Result<Page<Task>> SqlStore::listTasks(const TaskQuery& q) {
    const size_t limit = pageSize(q.limit);
    // A cursor belongs to one order.
    const char* kind = q.oldest_first ? kTaskCursorOldest : kTaskCursor;
    sql::Where where;
    where.equals("created_by", q.created_by).equals("object_name", q.name);
    if (q.data_type != 0) where.add("data_type = ?", {int64_t{q.data_type}});
    if (!q.agent_id.empty()) {
        where.add("task_id IN (SELECT task_id FROM task_results WHERE agent_id = ?)", {q.agent_id});
    }
    where.range("created_at_ms", q.from_ms, q.to_ms);
    if (!q.cursor.empty()) {
        auto parts = decodeCursor(q.cursor, kind, 2);
        if (!parts.ok()) return parts.error();
        auto t = cursorInteger((*parts)[0]);
        if (!t.ok()) return t.error();
        if (q.oldest_first) {
            where.after("created_at_ms", *t, "task_id", (*parts)[1]);
        } else {
            where.before("created_at_ms", *t, "task_id", (*parts)[1]);
        }
    }
    const char* order = q.oldest_first ? "ASC" : "DESC";
    const std::string statement =
        fmt::format("SELECT {} FROM tasks{} ORDER BY created_at_ms {}, task_id {} LIMIT ?",
                    kTaskColumns, where.sql(), order, order);
    where.params().emplace_back(static_cast<int64_t>(limit + 1));
    std::vector<Task> tasks;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query(statement, where.params());
        if (!rows.ok()) return rows.error();
        tasks.clear();
        for (size_t r = 0; r < rows->size(); ++r) tasks.push_back(taskFromRow(*rows, r));
        return countResults(c, tasks);
    }));
    return makePage(std::move(tasks), limit, [kind](const Task& t) {
        return encodeCursor(kind, {std::to_string(t.created_at_ms), t.task_id});
    });
}

Result<std::vector<TaskResult>> SqlStore::taskResults(const std::string& task_id) {
    return readAll<TaskResult>(
        "SELECT task_id, agent_id, status, result, time_ms FROM task_results WHERE task_id = ? "
        "ORDER BY agent_id",
        {task_id}, [](const sql::Rows& rows, size_t r) {
            return TaskResult{rows.text(r, 0), rows.text(r, 1), rows.text(r, 2), rows.text(r, 3),
                              rows.integer(r, 4)};
        });
}

}  // namespace vigil::manager
