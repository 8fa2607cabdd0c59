// The manager API's rule routes (docs/manager.md "Rules"): the managed rules directory and the
// builtin rules (rules.hub_paths) listed through the hub's loader, rules of both enabled and
// disabled, packs (managed only) installed and removed after
// `vigil-hub check`, hub reloads, and whitelists made from alerts.
#include <algorithm>
#include <cctype>

#include "libs/common/crypto.h"
#include "server/manager/api/api_views.h"
#include "server/manager/api/manager_api.h"
#include "server/manager/rules/whitelist.h"

namespace vigil::manager::api {

using nlohmann::json;
using server::ApiReply;
using server::ApiRequest;
using server::Body;
using server::JsonFields;

namespace {

constexpr size_t kMaxCommentBytes = 4096;
constexpr size_t kMaxWhitelistFields = 32;
constexpr size_t kMaxFieldNameBytes = 128;

ApiReply notConfigured() {
    return ApiReply::error(503, "rules are not configured (rules.dir in the configuration)");
}

json ruleJson(const rules::RuleInfo& r) {
    return {{"id", r.id},
            {"name", r.name},
            {"kind", r.kind},
            {"source", r.source},
            {"severity", r.severity},
            {"data_types", r.data_types},
            {"file", r.file},
            {"line", r.line},
            {"enabled", r.enabled},
            {"whitelist", r.whitelist},
            {"applies_to", r.applies_to},
            {"description", r.description},
            {"mitre", r.mitre}};
}

// A failed `vigil-hub check`: 400 (or `status`) with every diagnostic.
ApiReply checkFailed(int status, const std::string& what, const rules::CheckReport& report) {
    ApiReply a = ApiReply::error(
        status, what + " fails vigil-hub check" +
                    (report.summary.empty() ? std::string() : " (" + report.summary + ")") +
                    (report.diagnostics.empty() ? std::string() : ": " + report.diagnostics[0]));
    a.data = {{"summary", report.summary}, {"diagnostics", report.diagnostics}};
    return a;
}

// The rule list's filters; the first problem, empty when none.
struct RuleFilter {
    std::string text;  // lower-case substring of id, name or description
    std::string kind;
    std::string source;
    std::optional<bool> enabled;
    std::vector<Severity> severities;
    bool matches(const rules::RuleInfo& r) const {
        if (!kind.empty() && r.kind != kind) return false;
        if (!source.empty() && r.source != source) return false;
        if (enabled && r.enabled != *enabled) return false;
        if (!severities.empty()) {
            auto s = parseSeverity(r.severity);
            if (!s || std::find(severities.begin(), severities.end(), *s) == severities.end())
                return false;
        }
        if (!text.empty()) {
            for (const auto* field : {&r.id, &r.name, &r.description}) {
                if (lowerAscii(*field).find(text) != std::string::npos) return true;
            }
            return false;
        }
        return true;
    }
};

std::string readRuleFilter(const ApiRequest& req, RuleFilter& f) {
    auto text = textParam(req, "q", kMaxFilterBytes);
    if (!text.ok()) return text.message();
    f.text = lowerAscii(*text);
    f.kind = req.param("kind");
    if (!f.kind.empty() && f.kind != "vigil" && f.kind != "sigma")
        return "query parameter kind must be vigil or sigma";
    f.source = req.param("source");
    if (!f.source.empty() && f.source != "builtin" && f.source != "managed")
        return "query parameter source must be builtin or managed";
    const std::string enabled = req.param("enabled");
    if (enabled == "true") f.enabled = true;
    if (enabled == "false") f.enabled = false;
    if (!enabled.empty() && !f.enabled) return "query parameter enabled must be true or false";
    auto sev =
        listParam<Severity>(req, "severity", parseSeverity, "info, low, medium, high, critical");
    if (!sev.ok()) return sev.message();
    f.severities = std::move(*sev);
    return {};
}

}  // namespace

json ManagerApi::reloadHubs() {
    if (!services_.hubs) return json::array();
    return rules::reloadResultsJson(services_.hubs->reloadAll());
}

void ManagerApi::addRuleRoutes() {
    // Changes refused by vigil-hub check (bad packs, whitelists, removals others need).
    metrics::Counter& refused_counter = router_.metrics().counter(
        "vigil_manager_rule_changes_refused_total", "Rule changes refused by vigil-hub check");
    auto refused = [counter = &refused_counter] { counter->inc(); };
    add(
        "GET", "/api/v1/rules", Role::kReadOnly,
        [this](const ApiRequest& req, const Session&) {
            if (!services_.rules) return notConfigured();
            RuleFilter filter;
            std::string problem = readRuleFilter(req, filter);
            if (!problem.empty()) return ApiReply::badRequest(problem);
            auto listing = services_.rules->list();
            if (!listing.ok()) return ApiReply::error(500, "rules: " + listing.message());
            json matched = json::array();
            for (const auto& r : listing->rules) {
                if (filter.matches(r)) matched.push_back(ruleJson(r));
            }
            // Default: the hub's order (builtin files, then managed packs).
            auto page = memoryPage(std::move(matched), req, {"", "id", "-id", "name", "pack"});
            if (!page.ok()) return ApiReply::badRequest(page.message());
            (*page)["packs"] = listing->packs;
            (*page)["diagnostics"] = listing->diagnostics;
            return ApiReply::ok(std::move(*page));
        },
        Body::kRaw);

    // Before /rules/:id.
    add(
        "POST", "/api/v1/rules/reload", Role::kOperator,
        [this](const ApiRequest&, const Session& s) {
            json hubs = reloadHubs();
            audit(s.username, "rule.reload", "hubs", {{"hubs", hubs}});
            return ApiReply::ok({{"hubs", std::move(hubs)}});
        },
        Body::kRaw);

    add(
        "POST", "/api/v1/rules/packs", Role::kAdmin,
        [this, refused](const ApiRequest& req, const Session& s) {
            if (!services_.rules) return notConfigured();
            const std::string name = rules::packName(req.param("name"));
            if (name.empty()) {
                return ApiReply::badRequest(
                    "query parameter name must be 1-64 of [A-Za-z0-9._-], starting with a letter "
                    "or digit");
            }
            if (req.body.empty()) return ApiReply::badRequest("the body must be a YAML rule file");
            // A gzip stream (.tar.gz of rule files), else one YAML rule file.
            const bool archive =
                req.body.size() >= 2 && req.body[0] == '\x1f' && req.body[1] == '\x8b';
            auto report = archive ? services_.rules->installArchive(name, req.body)
                                  : services_.rules->installPack(name, req.body);
            if (!report.ok()) return ApiReply::error(500, "rules: " + report.message());
            if (!report->ok) {
                refused();
                return checkFailed(400, "pack " + name, *report);
            }
            json hubs = reloadHubs();
            audit(s.username, "rule.pack_install", name,
                  {{"bytes", req.body.size()},
                   {"archive", archive},
                   {"sha256", crypto::sha256Hex(req.body)},
                   {"check", report->summary},
                   {"hubs", hubs}});
            ApiReply a = ApiReply::ok({{"name", name},
                                       {"file", name + ".yaml"},
                                       {"check", report->summary},
                                       {"warnings", report->diagnostics},
                                       {"hubs", std::move(hubs)}});
            a.status = 201;
            return a;
        },
        Body::kRaw);

    add(
        "DELETE", "/api/v1/rules/packs/:name", Role::kAdmin,
        [this, refused](const ApiRequest& req, const Session& s) {
            if (!services_.rules) return notConfigured();
            const std::string& name = req.path_params.at("name");
            auto report = services_.rules->removePack(name);
            if (!report.ok()) return ApiReply::error(500, "rules: " + report.message());
            if (!*report) return ApiReply::notFound("no pack " + name);
            if (!(*report)->ok) {
                refused();
                return checkFailed(409, "the rules without pack " + name, **report);
            }
            json hubs = reloadHubs();
            audit(s.username, "rule.pack_delete", name, {{"hubs", hubs}});
            return ApiReply::ok({{"deleted", name}, {"hubs", std::move(hubs)}});
        },
        Body::kRaw);

    add("PATCH", "/api/v1/rules/:id", Role::kOperator,
        [this](const ApiRequest& req, const Session& s) {
            if (!services_.rules) return notConfigured();
            const std::string& id = req.path_params.at("id");
            JsonFields f(req.json);
            const bool enabled = f.boolean("enabled", true);
            if (!f.ok()) return f.badRequest();
            // The .disabled list is line-based with # comments (docs/hub.md).
            if (id.empty() || id.find_first_of("#\r\n") != std::string::npos ||
                std::isspace(static_cast<unsigned char>(id.front())) ||
                std::isspace(static_cast<unsigned char>(id.back()))) {
                return ApiReply::badRequest("rule id '" + id.substr(0, 80) +
                                            "' cannot be listed in .disabled (a #, a line break, "
                                            "or spaces at either end)");
            }
            auto done = services_.rules->setEnabled(id, enabled);
            if (!done.ok()) return ApiReply::error(500, "rules: " + done.message());
            if (*done == rules::EnableResult::kNoSuchRule)
                return ApiReply::notFound("no rule " + id + " in the managed or builtin rules");
            if (*done == rules::EnableResult::kDisabledElsewhere) {
                return ApiReply::error(409,
                                       "rule " + id +
                                           " is disabled by a .disabled list of rules.hub_paths, "
                                           "which vigil-manager does not change");
            }
            const bool changed = *done == rules::EnableResult::kChanged;
            json hubs = changed ? reloadHubs() : json::array();
            if (changed) {
                audit(s.username, enabled ? "rule.enable" : "rule.disable", id, {{"hubs", hubs}});
            }
            return ApiReply::ok({{"id", id},
                                 {"enabled", enabled},
                                 {"changed", changed},
                                 {"hubs", std::move(hubs)}});
        });

    add("POST", "/api/v1/alerts/:id/whitelist", Role::kOperator,
        [this, refused](const ApiRequest& req, const Session& s) {
            if (!services_.rules) return notConfigured();
            const std::string& id = req.path_params.at("id");
            JsonFields f(req.json);
            const json* fields = f.array("fields", true, kMaxWhitelistFields);
            const std::string comment = f.string("comment", false, kMaxCommentBytes);
            if (f.ok() && fields->empty()) f.fail("fields", "must name at least one field");
            if (!f.ok()) return f.badRequest();
            auto alert = store_.getAlert(id);
            if (!alert.ok()) return storeError(alert.error());
            if (!*alert) return ApiReply::notFound("no alert " + id);
            const json body = json::parse((*alert)->json, nullptr, false);
            const json* record =
                body.is_object() && body.contains("fields") && body["fields"].is_object()
                    ? &body["fields"]
                    : nullptr;
            rules::WhitelistSpec spec;
            spec.rule_id = (*alert)->rule_id;
            spec.data_type = (*alert)->data_type;
            spec.comment = comment;
            spec.alert_id = id;
            spec.created_by = s.username;
            for (const auto& name : *fields) {
                if (!name.is_string() || name.get_ref<const std::string&>().empty() ||
                    name.get_ref<const std::string&>().size() > kMaxFieldNameBytes) {
                    f.fail("fields", "must be a list of field names (strings)");
                    break;
                }
                const std::string& field = name.get_ref<const std::string&>();
                auto it = record ? record->find(field) : json::const_iterator();
                if (!record || it == record->end()) {
                    f.fail("fields", "alert " + id + " has no record field " + field);
                    break;
                }
                std::string value = it->is_string() ? it->get<std::string>() : it->dump();
                if (std::none_of(spec.fields.begin(), spec.fields.end(),
                                 [&](const auto& kv) { return kv.first == field; }))
                    spec.fields.emplace_back(field, std::move(value));
            }
            if (!f.ok()) return f.badRequest();
            auto yaml = rules::whitelistYaml(spec);
            if (!yaml.ok()) return ApiReply::badRequest(yaml.message());
            const std::string pack = rules::whitelistPackName(spec);
            auto report = services_.rules->installPack(pack, *yaml);
            if (!report.ok()) return ApiReply::error(500, "rules: " + report.message());
            if (!report->ok) {
                refused();
                return checkFailed(400, "the whitelist", *report);
            }
            json hubs = reloadHubs();
            AlertStatusUpdate up;
            up.alert_id = id;
            up.status = AlertStatus::kFalsePositive;
            up.comment = comment;
            up.updated_by = s.username;
            up.updated_at_ms = auth_.now();
            auto updated = store_.updateAlertStatus(up);
            if (!updated.ok()) return storeError(updated.error());
            json names = json::array();
            for (const auto& kv : spec.fields) names.push_back(kv.first);
            audit(s.username, "alert.whitelist", id,
                  {{"rule_id", spec.rule_id},
                   {"whitelist_id", rules::whitelistId(spec)},
                   {"pack", pack},
                   {"fields", names},
                   {"comment", comment},
                   {"hubs", hubs}});
            audit(s.username, "alert.status", id,
                  {{"from", alertStatusName((*alert)->status)},
                   {"to", alertStatusName(AlertStatus::kFalsePositive)},
                   {"comment", comment}});
            auto after = store_.getAlert(id);
            if (!after.ok()) return storeError(after.error());
            return ApiReply::ok({{"alert", *after ? alertJson(**after, false) : json(nullptr)},
                                 {"whitelist",
                                  {{"id", rules::whitelistId(spec)},
                                   {"pack", pack},
                                   {"file", pack + ".yaml"},
                                   {"rule", *yaml}}},
                                 {"hubs", std::move(hubs)}});
        });
}

}  // namespace vigil::manager::api
