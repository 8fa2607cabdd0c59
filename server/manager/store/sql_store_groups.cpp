// SqlStore's host groups (plugin configs) and the Store defaults for stores without them.
#include <algorithm>
#include <set>

#include "server/manager/store/sql_store.h"

namespace vigil::manager {

namespace {

constexpr const char* kGroupColumns = "name, description, plugins, updated_by, updated_at_ms";

HostGroup groupFromRow(const sql::Rows& rows, size_t r) {
    HostGroup g;
    g.name = rows.text(r, 0);
    g.description = rows.text(r, 1);
    g.plugins_json = rows.text(r, 2);
    g.updated_by = rows.text(r, 3);
    g.updated_at_ms = rows.integer(r, 4);
    return g;
}

// Fills the members of `groups` (sorted by agent_id).
Status readMembers(sql::Connection& c, std::vector<HostGroup>& groups) {
    if (groups.empty()) return okStatus();
    sql::Params names;
    for (const auto& g : groups) names.push_back(g.name);
    auto rows = c.query(fmt::format("SELECT group_name, agent_id FROM host_group_members WHERE "
                                    "group_name IN ({}) ORDER BY group_name, agent_id",
                                    sql::placeholders(names.size())),
                        names);
    if (!rows.ok()) return rows.error();
    for (size_t r = 0; r < rows->size(); ++r) {
        const std::string name = rows->text(r, 0);
        for (auto& g : groups) {
            if (g.name == name) g.agent_ids.push_back(rows->text(r, 1));
        }
    }
    return okStatus();
}

Error unsupported() {
    return Error{"this store does not keep host groups"};
}

}  // namespace

Result<std::map<std::string, std::string>> Store::hostnames(
    const std::vector<std::string>& agent_ids) {
    std::map<std::string, std::string> out;
    for (const auto& id : agent_ids) {
        auto host = getHost(id);
        if (!host.ok()) return host.error();
        if (*host) out[id] = (*host)->hostname;
    }
    return out;
}

Result<bool> Store::putHostGroup(const HostGroup&) {
    return unsupported();
}
Result<std::optional<HostGroup>> Store::getHostGroup(const std::string&) {
    return unsupported();
}
Result<std::vector<HostGroup>> Store::listHostGroups() {
    return unsupported();
}
Result<bool> Store::deleteHostGroup(const std::string&) {
    return unsupported();
}

Result<bool> SqlStore::putHostGroup(const HostGroup& group) {
    if (group.name.empty()) return makeError("a host group needs a name");
    const std::set<std::string> members(group.agent_ids.begin(), group.agent_ids.end());
    const int64_t at = group.updated_at_ms ? group.updated_at_ms : now();
    bool created = false;
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        auto existing = c.query("SELECT COUNT(*) FROM host_groups WHERE name = ?", {group.name});
        if (!existing.ok()) return existing.error();
        created = existing->integer(0, 0) == 0;
        auto n = c.execute(
            fmt::format("INSERT INTO host_groups ({}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) "
                        "DO UPDATE SET description = excluded.description, plugins = "
                        "excluded.plugins, updated_by = excluded.updated_by, updated_at_ms = "
                        "excluded.updated_at_ms",
                        kGroupColumns),
            {group.name, group.description, group.plugins_json, group.updated_by, at});
        if (!n.ok()) return n.error();
        auto cleared =
            c.execute("DELETE FROM host_group_members WHERE group_name = ?", {group.name});
        if (!cleared.ok()) return cleared.error();
        sql::Params values;
        for (const auto& agent : members) values.insert(values.end(), {agent, group.name});
        // A host already in another group moves to this one.
        auto added = insertRows(c, "INSERT INTO host_group_members (agent_id, group_name) VALUES ",
                                " ON CONFLICT (agent_id) DO UPDATE SET group_name = "
                                "excluded.group_name",
                                2, values);
        return added.ok() ? okStatus() : Status(added.error());
    }));
    return created;
}

Result<std::optional<HostGroup>> SqlStore::getHostGroup(const std::string& name) {
    std::optional<HostGroup> group;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query(fmt::format("SELECT {} FROM host_groups WHERE name = ?", kGroupColumns),
                            {name});
        if (!rows.ok()) return rows.error();
        if (rows->empty()) return okStatus();
        std::vector<HostGroup> one{groupFromRow(*rows, 0)};
        VIGIL_TRY(readMembers(c, one));
        group = std::move(one.front());
        return okStatus();
    }));
    return group;
}

Result<std::vector<HostGroup>> SqlStore::listHostGroups() {
    std::vector<HostGroup> groups;
    VIGIL_TRY(db_->read([&](sql::Connection& c) -> Status {
        auto rows = c.query(fmt::format("SELECT {} FROM host_groups ORDER BY name", kGroupColumns));
        if (!rows.ok()) return rows.error();
        groups.clear();
        for (size_t r = 0; r < rows->size(); ++r) groups.push_back(groupFromRow(*rows, r));
        return readMembers(c, groups);
    }));
    return groups;
}

Result<bool> SqlStore::deleteHostGroup(const std::string& name) {
    bool deleted = false;
    VIGIL_TRY(db_->write([&](sql::Connection& c) -> Status {
        // Members first: SQLite enforces the cascade only with foreign keys on (they are), but
        // deleting them explicitly keeps both backends' answers the same regardless.
        auto members = c.execute("DELETE FROM host_group_members WHERE group_name = ?", {name});
        if (!members.ok()) return members.error();
        auto n = c.execute("DELETE FROM host_groups WHERE name = ?", {name});
        if (!n.ok()) return n.error();
        deleted = *n > 0;
        return okStatus();
    }));
    return deleted;
}

}  // namespace vigil::manager
