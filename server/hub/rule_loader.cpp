#include "server/hub/rule_loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <set>
#include <sstream>

#include "libs/common/fs.h"

namespace vigil::hub {

namespace {

namespace fs = std::filesystem;

// A rule that cannot be compiled: the loader records the diagnostic and skips the rule.
struct RuleError {
    SourceLoc loc;
    std::string message;
};

SourceLoc locOf(const std::string& file, const YAML::Node& n) {
    const YAML::Mark m = n.Mark();
    return SourceLoc{file, m.line + 1, m.column + 1};
}

std::string scalar(const YAML::Node& n) {
    return n && n.IsScalar() ? n.Scalar() : std::string();
}

// A scalar or a list of scalars.
std::vector<std::string> scalarList(const std::string& file, const YAML::Node& n,
                                    const char* what) {
    std::vector<std::string> out;
    if (!n || n.IsNull()) return out;
    if (n.IsScalar()) {
        out.push_back(n.Scalar());
        return out;
    }
    if (!n.IsSequence())
        throw RuleError{locOf(file, n), std::string(what) + ": expected a value or a list"};
    for (const auto& item : n) {
        if (!item.IsScalar())
            throw RuleError{locOf(file, item), std::string(what) + ": expected a value"};
        out.push_back(item.Scalar());
    }
    return out;
}

int64_t durationMs(const std::string& file, const YAML::Node& n) {
    const std::string text = scalar(n);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    std::string_view unit(p, static_cast<size_t>(text.data() + text.size() - p));
    if (ec != std::errc() || v <= 0)
        throw RuleError{locOf(file, n), "window: expected a duration like 60s, got '" + text + "'"};
    int64_t per = 0;
    if (unit == "ms") per = 1;
    if (unit == "s" || unit.empty()) per = 1000;
    if (unit == "m") per = 60000;
    if (unit == "h") per = 3600000;
    if (per == 0) {
        throw RuleError{locOf(file, n),
                        "window: unknown unit '" + std::string(unit) + "' (ms, s, m, h)"};
    }
    // A year at most: beyond, milliseconds would overflow long before the window meant anything.
    constexpr int64_t kMaxMs = 366LL * 24 * 3600000;
    if (v > kMaxMs / per)
        throw RuleError{locOf(file, n), "window: '" + text + "' is longer than a year"};
    return v * per;
}

Matcher compileMatcher(const std::string& file, const YAML::Node& at, const MatchSpec& spec,
                       const std::string& what) {
    auto m = Matcher::compile(spec);
    if (!m.ok()) throw RuleError{locOf(file, at), what + ": " + m.message()};
    return std::move(*m);
}

Condition compileCondition(const std::string& file, const YAML::Node& at, const std::string& text,
                           const std::vector<std::string>& names) {
    auto c = Condition::parse(text, names);
    if (!c.ok()) {
        // "line:col: message" within the condition text: shift to the file's position (for a
        // single-line condition the column adds to the value's column).
        SourceLoc loc = locOf(file, at);
        std::string msg = c.message();
        int line = 0, col = 0;
        size_t c1 = msg.find(':'), c2 = c1 == std::string::npos ? c1 : msg.find(':', c1 + 1);
        if (c2 != std::string::npos) {
            std::from_chars(msg.data(), msg.data() + c1, line);
            std::from_chars(msg.data() + c1 + 1, msg.data() + c2, col);
            if (line == 1 && col > 0) loc.column += col - 1;
            if (line > 1) {
                loc.line += line - 1;
                loc.column = col;
            }
            msg = msg.substr(c2 + 1);
            if (!msg.empty() && msg[0] == ' ') msg.erase(0, 1);
        }
        throw RuleError{loc, "condition: " + msg};
    }
    return std::move(*c);
}

// ---- Vigil rules -------------------------------------------------------------------------

struct OpName {
    const char* key;
    Op op;
    bool negate;
};
constexpr OpName kOps[] = {
    {"equals", Op::kEquals, false},
    {"not_equals", Op::kEquals, true},
    {"contains", Op::kContains, false},
    {"not_contains", Op::kContains, true},
    {"starts_with", Op::kStartsWith, false},
    {"not_starts_with", Op::kStartsWith, true},
    {"ends_with", Op::kEndsWith, false},
    {"not_ends_with", Op::kEndsWith, true},
    {"regex", Op::kRegex, false},
    {"not_regex", Op::kRegex, true},
    {"lt", Op::kLess, false},
    {"le", Op::kLessEq, false},
    {"gt", Op::kGreater, false},
    {"ge", Op::kGreaterEq, false},
    {"is_null", Op::kIsNull, false},
    {"not_null", Op::kNotNull, false},
    {"cidr", Op::kCidr, false},
    {"not_cidr", Op::kCidr, true},
};

Selection vigilCheck(const std::string& file, const std::string& name, const YAML::Node& n) {
    if (!n.IsMap())
        throw RuleError{locOf(file, n),
                        "check " + name + ": expected a map with field and an operator"};
    MatchSpec spec;
    std::string field;
    const OpName* found = nullptr;
    YAML::Node value_node;
    for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        if (key == "field") {
            field = scalar(kv.second);
        } else if (key == "nocase") {
            spec.nocase = kv.second.as<bool>(false);
        } else if (key == "other_field") {
            spec.other_field = scalar(kv.second);
        } else if (key == "all") {
            spec.match_all = kv.second.as<bool>(false);
        } else {
            const OpName* op = nullptr;
            for (const auto& o : kOps) {
                if (key == o.key) op = &o;
            }
            if (!op)
                throw RuleError{locOf(file, kv.first),
                                "check " + name + ": unknown key '" + key +
                                    "' (field, an operator, nocase, other_field, all)"};
            if (found)
                throw RuleError{locOf(file, kv.first), "check " + name + ": two operators ('" +
                                                           found->key + "' and '" + key + "')"};
            found = op;
            value_node = kv.second;
        }
    }
    if (field.empty()) throw RuleError{locOf(file, n), "check " + name + ": missing field"};
    if (!found)
        throw RuleError{locOf(file, n),
                        "check " + name + ": missing operator (equals, contains, regex, ...)"};
    spec.op = found->op;
    spec.negate = found->negate;
    if (spec.op != Op::kIsNull && spec.op != Op::kNotNull && spec.other_field.empty()) {
        spec.values = scalarList(file, value_node, found->key);
        if (spec.values.empty())
            throw RuleError{locOf(file, value_node),
                            "check " + name + ": " + found->key + " needs a value"};
    }
    FieldMatcher fm{field, spec.other_field,
                    compileMatcher(file, value_node ? value_node : n, spec, "check " + name)};
    Selection sel;
    sel.name = name;
    sel.any.push_back(Alternative{{std::move(fm)}});
    return sel;
}

std::vector<Sample> samples(const std::string& file, const YAML::Node& n,
                            const std::vector<int32_t>& data_types) {
    std::vector<Sample> out;
    if (!n) return out;
    if (!n.IsSequence()) throw RuleError{locOf(file, n), "samples: expected a list"};
    for (const auto& s : n) {
        Sample sample;
        sample.loc = locOf(file, s);
        sample.match = s["match"].as<bool>(true);
        sample.data_type = s["data_type"] ? s["data_type"].as<int32_t>()
                                          : (data_types.empty() ? 0 : data_types.front());
        const YAML::Node fields = s["fields"];
        if (!fields || !fields.IsMap())
            throw RuleError{locOf(file, s), "sample: expected fields: {name: value, ...}"};
        for (const auto& kv : fields) sample.fields[kv.first.Scalar()] = scalar(kv.second);
        out.push_back(std::move(sample));
    }
    return out;
}

void commonMeta(const std::string& file, const YAML::Node& n, Rule& r) {
    if (n["severity"]) {
        auto s = parseSeverity(scalar(n["severity"]));
        if (!s)
            throw RuleError{locOf(file, n["severity"]),
                            "severity: expected info, low, medium, high or critical"};
        r.severity = *s;
    }
    r.mitre = scalarList(file, n["mitre"], "mitre");
    r.description = scalar(n["description"]);
    r.suggestion = scalar(n["suggestion"]);
}

// A misspelt key (`frequncy:`) would otherwise change a rule's meaning without a word.
void vigilRuleKeys(const std::string& file, const YAML::Node& n) {
    static const std::set<std::string> kKeys = {
        "id",          "name",       "data_type", "data_types", "severity",  "mitre",
        "description", "suggestion", "checks",    "condition",  "whitelist", "applies_to",
        "frequency",   "after",      "append",    "samples"};
    for (const auto& kv : n) {
        const std::string key = kv.first.Scalar();
        if (!kKeys.count(key))
            throw RuleError{locOf(file, kv.first),
                            "unknown key '" + key + "' (see docs/hub.md: Vigil rules)"};
    }
}

std::optional<After> afterOf(const std::string& file, const YAML::Node& a) {
    if (!a) return std::nullopt;
    if (!a.IsMap())
        throw RuleError{locOf(file, a), "after: expected {rule: ID, within: 10m, same: [fields]}"};
    for (const auto& kv : a) {
        const std::string key = kv.first.Scalar();
        if (key != "rule" && key != "within" && key != "same")
            throw RuleError{locOf(file, kv.first),
                            "after: unknown key '" + key + "' (rule, within, same)"};
    }
    After after;
    after.loc = locOf(file, a);
    after.rule = scalar(a["rule"]);
    if (after.rule.empty()) throw RuleError{after.loc, "after: needs rule: <rule id>"};
    if (!a["within"]) throw RuleError{after.loc, "after: needs within: <duration>"};
    after.within_ms = durationMs(file, a["within"]);
    after.same = scalarList(file, a["same"], "same");
    return after;
}

Rule vigilRule(const std::string& file, const YAML::Node& n) {
    Rule r;
    r.kind = Rule::Kind::kVigil;
    r.loc = locOf(file, n);
    r.id = scalar(n["id"]);
    if (r.id.empty()) throw RuleError{r.loc, "rule without an id"};
    vigilRuleKeys(file, n);
    r.name = n["name"] ? scalar(n["name"]) : r.id;
    for (const char* key : {"data_type", "data_types"}) {
        for (const auto& v : scalarList(file, n[key], key)) {
            int32_t dt = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), dt);
            if (ec != std::errc() || p != v.data() + v.size())
                throw RuleError{locOf(file, n[key]), std::string(key) + ": not a number: " + v};
            r.data_types.push_back(dt);
        }
    }
    if (r.data_types.empty()) throw RuleError{r.loc, "rule needs data_type (or data_types)"};
    commonMeta(file, n, r);
    const YAML::Node checks = n["checks"];
    if (!checks || !checks.IsMap() || checks.size() == 0)
        throw RuleError{r.loc, "rule needs checks: {name: {field: ..., <operator>: ...}}"};
    std::vector<std::string> names;
    for (const auto& kv : checks) {
        names.push_back(kv.first.Scalar());
        r.selections.push_back(vigilCheck(file, names.back(), kv.second));
    }
    std::string cond;
    // Copy-constructed, not assigned: yaml-cpp's operator= writes into the node it refers to.
    const YAML::Node cond_node = n["condition"] ? n["condition"] : checks;
    if (n["condition"]) {
        cond = scalar(cond_node);
    } else {
        for (const auto& name : names) cond += (cond.empty() ? "" : " and ") + name;
    }
    r.condition = compileCondition(file, cond_node, cond, names);
    r.whitelist = n["whitelist"].as<bool>(false);
    r.applies_to = scalarList(file, n["applies_to"], "applies_to");
    if (const YAML::Node f = n["frequency"]) {
        Frequency fr;
        if (!f["window"]) throw RuleError{locOf(file, f), "frequency: needs window"};
        fr.window_ms = durationMs(file, f["window"]);
        fr.group_by = scalarList(file, f["group_by"], "group_by");
        int kinds = 0;
        if (f["count"]) {
            fr.kind = Frequency::Kind::kCount;
            fr.threshold = f["count"].as<double>();
            ++kinds;
        }
        if (f["distinct"]) {
            fr.kind = Frequency::Kind::kDistinct;
            fr.field = scalar(f["distinct"]["field"]);
            fr.threshold = f["distinct"]["count"].as<double>(0);
            ++kinds;
        }
        if (f["sum"]) {
            fr.kind = Frequency::Kind::kSum;
            fr.field = scalar(f["sum"]["field"]);
            fr.threshold = f["sum"]["at_least"].as<double>(0);
            ++kinds;
        }
        if (kinds != 1 || fr.threshold <= 0)
            throw RuleError{locOf(file, f),
                            "frequency: exactly one of count: N, distinct: {field, count}, sum: "
                            "{field, at_least} with a positive threshold"};
        fr.reset_on_hit = f["reset_on_hit"].as<bool>(true);
        r.frequency = fr;
    }
    r.after = afterOf(file, n["after"]);
    if (r.after && r.whitelist)
        throw RuleError{r.after->loc, "after: not allowed in a whitelist rule"};
    if (const YAML::Node a = n["append"]) {
        if (!a.IsMap()) throw RuleError{locOf(file, a), "append: expected {field: value}"};
        for (const auto& kv : a) r.append[kv.first.Scalar()] = scalar(kv.second);
    }
    r.samples = samples(file, n["samples"], r.data_types);
    return r;
}

// ---- Sigma rules -------------------------------------------------------------------------

Selection sigmaSelection(const std::string& file, const std::string& name, const YAML::Node& n);

FieldMatcher sigmaFieldMatcher(const std::string& file, const YAML::Node& key_node,
                               const YAML::Node& value) {
    const std::string key = key_node.Scalar();
    std::vector<std::string> parts;
    std::stringstream ss(key);
    for (std::string part; std::getline(ss, part, '|');) parts.push_back(part);
    if (parts.empty() || parts[0].empty())
        throw RuleError{locOf(file, key_node), "empty field name"};
    const std::string field = vigil::hub::sigmaField(parts[0]);
    if (field.empty())
        throw RuleError{locOf(file, key_node),
                        "field " + parts[0] + " has no Vigil mapping (see docs/hub.md)"};
    MatchSpec spec;
    spec.nocase = true;  // Sigma matches strings case-insensitively
    spec.sigma_wildcards = true;
    bool op_set = false;
    auto setOp = [&](Op op) {
        if (op_set) throw RuleError{locOf(file, key_node), "two matching modifiers in " + key};
        spec.op = op;
        op_set = true;
        // Wildcards keep their meaning in contains/startswith/endswith values.
        spec.sigma_wildcards = op == Op::kContains || op == Op::kStartsWith || op == Op::kEndsWith;
    };
    for (size_t i = 1; i < parts.size(); ++i) {
        const std::string& m = parts[i];
        if (m == "contains")
            setOp(Op::kContains);
        else if (m == "startswith")
            setOp(Op::kStartsWith);
        else if (m == "endswith")
            setOp(Op::kEndsWith);
        else if (m == "re") {
            setOp(Op::kRegex);
            spec.nocase = false;
        } else if (m == "cidr")
            setOp(Op::kCidr);
        else if (m == "lt")
            setOp(Op::kLess);
        else if (m == "lte")
            setOp(Op::kLessEq);
        else if (m == "gt")
            setOp(Op::kGreater);
        else if (m == "gte")
            setOp(Op::kGreaterEq);
        else if (m == "all")
            spec.match_all = true;
        else if (m == "base64")
            spec.base64 = true;
        else if (m == "base64offset")
            spec.base64offset = true;
        else if (m == "windash")
            spec.windash = true;
        else if (m == "cased")
            spec.nocase = false;
        else if (m == "exists") {
            setOp(value.as<bool>(true) ? Op::kNotNull : Op::kIsNull);
            return FieldMatcher{field, "", compileMatcher(file, value, spec, key)};
        } else if (m == "fieldref") {
            spec.other_field = vigil::hub::sigmaField(scalar(value));
            if (spec.other_field.empty())
                throw RuleError{locOf(file, value),
                                "fieldref: " + scalar(value) + " has no Vigil mapping"};
        } else {
            throw RuleError{
                locOf(file, key_node),
                "unsupported modifier |" + m +
                    " (supported: contains, startswith, endswith, re, all, cidr, base64, "
                    "base64offset, windash, cased, exists, fieldref, lt, lte, gt, gte)"};
        }
    }
    if ((spec.base64 || spec.base64offset) && !op_set) setOp(Op::kContains);
    if (spec.other_field.empty()) {
        if (!value || value.IsNull()) {
            spec.op = Op::kIsNull;
            spec.sigma_wildcards = false;
        } else {
            spec.values = scalarList(file, value, key.c_str());
            if (spec.values.empty()) throw RuleError{locOf(file, value), key + ": empty list"};
        }
    }
    return FieldMatcher{field, spec.other_field,
                        compileMatcher(file, value ? value : key_node, spec, key)};
}

Alternative sigmaMap(const std::string& file, const YAML::Node& n) {
    Alternative alt;
    for (const auto& kv : n) alt.all.push_back(sigmaFieldMatcher(file, kv.first, kv.second));
    return alt;
}

Selection sigmaSelection(const std::string& file, const std::string& name, const YAML::Node& n) {
    Selection sel;
    sel.name = name;
    if (n.IsMap()) {
        sel.any.push_back(sigmaMap(file, n));
    } else if (n.IsSequence()) {
        for (const auto& item : n) {
            if (!item.IsMap())
                throw RuleError{locOf(file, item), "selection " + name +
                                                       ": keyword lists (full-text search) are not "
                                                       "supported; use field: value maps"};
            sel.any.push_back(sigmaMap(file, item));
        }
    } else {
        throw RuleError{locOf(file, n), "selection " + name + ": expected a map or a list of maps"};
    }
    if (sel.any.empty()) throw RuleError{locOf(file, n), "selection " + name + " is empty"};
    return sel;
}

Rule sigmaRule(const std::string& file, const YAML::Node& n) {
    Rule r;
    r.kind = Rule::Kind::kSigma;
    r.loc = locOf(file, n);
    r.name = scalar(n["title"]);
    r.id = n["id"] ? scalar(n["id"]) : r.name;
    if (r.id.empty()) throw RuleError{r.loc, "Sigma rule without id or title"};
    const YAML::Node ls = n["logsource"];
    if (!ls || !ls.IsMap()) throw RuleError{r.loc, "Sigma rule without logsource"};
    const std::string product = scalar(ls["product"]);
    if (!product.empty() && product != "linux")
        throw RuleError{locOf(file, ls["product"]),
                        "logsource product '" + product + "' is not linux"};
    if (ls["service"])
        throw RuleError{locOf(file, ls["service"]), "logsource service '" + scalar(ls["service"]) +
                                                        "' maps to no Vigil record"};
    const std::string category = scalar(ls["category"]);
    r.data_types = sigmaCategory(category);
    if (r.data_types.empty())
        throw RuleError{locOf(file, ls),
                        "logsource category '" + category +
                            "' maps to no Vigil record (process_creation, network_connection, "
                            "file_event, file_create, file_rename, dns_query)"};
    if (n["level"]) {
        std::string level = scalar(n["level"]);
        if (level == "informational") level = "info";
        auto s = parseSeverity(level);
        if (!s)
            throw RuleError{locOf(file, n["level"]), "level: unknown '" + scalar(n["level"]) + "'"};
        r.severity = *s;
    }
    for (const auto& tag : scalarList(file, n["tags"], "tags")) {
        if (tag.rfind("attack.t", 0) == 0) {
            std::string id = tag.substr(7);
            std::transform(id.begin(), id.end(), id.begin(), ::toupper);
            r.mitre.push_back(id);
        }
    }
    r.description = scalar(n["description"]);
    if (const YAML::Node fp = n["falsepositives"]; fp && fp.IsSequence() && fp.size() > 0) {
        r.suggestion = "false positives: " + scalar(fp[0]);
    }
    const YAML::Node det = n["detection"];
    if (!det || !det.IsMap()) throw RuleError{r.loc, "Sigma rule without detection"};
    std::vector<std::string> names;
    YAML::Node cond_node;
    for (const auto& kv : det) {
        const std::string key = kv.first.Scalar();
        if (key == "condition") {
            cond_node = kv.second;
            continue;
        }
        if (key == "timeframe")
            throw RuleError{locOf(file, kv.first),
                            "timeframe (Sigma correlation) is not supported"};
        names.push_back(key);
        r.selections.push_back(sigmaSelection(file, key, kv.second));
    }
    if (!cond_node) throw RuleError{locOf(file, det), "detection without condition"};
    std::string cond;
    if (cond_node.IsSequence()) {
        for (const auto& c : cond_node) cond += (cond.empty() ? "(" : " or (") + scalar(c) + ")";
    } else {
        cond = scalar(cond_node);
    }
    r.condition = compileCondition(file, cond_node, cond, names);
    // A rename record names its target new_name: Sigma's TargetFilename is that file there.
    if (category == "file_rename") {
        for (auto& sel : r.selections) {
            for (auto& alt : sel.any) {
                for (auto& fm : alt.all) {
                    if (fm.field == "file_path") fm.field = "new_name";
                    if (fm.other == "file_path") fm.other = "new_name";
                }
            }
        }
    }
    r.samples = samples(file, n["samples"], r.data_types);
    return r;
}

bool isSigma(const YAML::Node& doc) {
    return doc.IsMap() && doc["detection"];
}

void loadDocument(const std::string& file, const YAML::Node& doc, LoadResult& out,
                  std::set<std::string>& ids) {
    auto one = [&](const YAML::Node& n, bool sigma) {
        std::string id = n.IsMap() ? scalar(n["id"]) : std::string();
        try {
            Rule r = sigma ? sigmaRule(file, n) : vigilRule(file, n);
            if (!ids.insert(r.id).second) throw RuleError{r.loc, "duplicate rule id " + r.id};
            out.rules.push_back(std::move(r));
        } catch (const RuleError& e) {
            out.diagnostics.push_back({e.loc, id, e.message, false});
            ++out.failed;
        } catch (const YAML::Exception& e) {
            out.diagnostics.push_back(
                {locOf(file, n), id, std::string("bad value: ") + e.msg, false});
            ++out.failed;
        }
    };
    if (!doc || doc.IsNull()) return;
    if (isSigma(doc)) return one(doc, true);
    YAML::Node list = doc.IsMap() && doc["rules"] ? doc["rules"] : doc;
    if (!list.IsSequence()) {
        out.diagnostics.push_back({locOf(file, doc), "",
                                   "expected a list of rules, a map with rules:, or a Sigma rule",
                                   false});
        ++out.failed;
        return;
    }
    for (const auto& n : list) {
        if (!n.IsMap()) {
            out.diagnostics.push_back({locOf(file, n), "", "a rule must be a map", false});
            ++out.failed;
            continue;
        }
        one(n, isSigma(n));
    }
}

// yaml-cpp 0.7 (Debian 12) loops for ever in LoadAll, allocating a null document per turn,
// on some malformed streams (a stray ',' at the top level; fixed upstream in 0.8 by
// jbeder/yaml-cpp#1319). This pass walks the same events without building nodes and stops at
// the first document that is a lone null at the position of the previous one: no token was
// consumed, the parser is stuck there.
class StuckParserCheck : public YAML::EventHandler {
public:
    void OnDocumentStart(const YAML::Mark& mark) override {
        events_ = 0;
        null_only_ = true;
        start_ = mark;
    }
    void OnDocumentEnd() override {
        if (null_only_ && events_ <= 1) {
            if (have_last_ && start_.pos == last_.pos) {
                throw YAML::ParserException(start_,
                                            "unexpected character here (a stray ',' "
                                            "or a flow collection that is not closed?)");
            }
            last_ = start_;
            have_last_ = true;
        } else {
            have_last_ = false;
        }
    }
    void OnNull(const YAML::Mark&, YAML::anchor_t) override { ++events_; }
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override { other(); }
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {
        other();
    }
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        other();
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        other();
    }
    void OnMapEnd() override {}

private:
    void other() {
        ++events_;
        null_only_ = false;
    }
    size_t events_ = 0;
    bool null_only_ = true;
    YAML::Mark start_, last_;
    bool have_last_ = false;
};

std::vector<YAML::Node> loadAllDocuments(const std::string& text) {
    {
        std::istringstream in(text);
        YAML::Parser parser(in);
        StuckParserCheck check;
        while (parser.HandleNextDocument(check)) {
        }
    }
    return YAML::LoadAll(text);
}

void loadText(std::string_view text, const std::string& file, LoadResult& out,
              std::set<std::string>& ids) {
    std::vector<YAML::Node> docs;
    try {
        docs = loadAllDocuments(std::string(text));
    } catch (const YAML::Exception& e) {
        out.diagnostics.push_back(
            {SourceLoc{file, e.mark.line + 1, e.mark.column + 1}, "", e.msg, false});
        ++out.failed;
        return;
    }
    for (const auto& doc : docs) loadDocument(file, doc, out, ids);
}

// The collect step across files: a rule whose `after` names no loaded rule fails (and so,
// in turn, do the rules that name it).
void resolveAfter(LoadResult& out) {
    for (bool changed = true; changed;) {
        changed = false;
        std::set<std::string> ids;
        for (const auto& r : out.rules) ids.insert(r.id);
        for (auto it = out.rules.begin(); it != out.rules.end(); ++it) {
            if (!it->after || ids.count(it->after->rule)) continue;
            out.diagnostics.push_back(
                {it->after->loc, it->id, "after: no loaded rule has id " + it->after->rule, false});
            ++out.failed;
            out.rules.erase(it);
            changed = true;
            break;
        }
    }
}

}  // namespace

std::string SourceLoc::toString() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const char* severityName(Severity s) {
    switch (s) {
        case Severity::kInfo:
            return "info";
        case Severity::kLow:
            return "low";
        case Severity::kMedium:
            return "medium";
        case Severity::kHigh:
            return "high";
        case Severity::kCritical:
            return "critical";
    }
    return "medium";
}

std::optional<Severity> parseSeverity(std::string_view t) {
    for (Severity s : {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh,
                       Severity::kCritical}) {
        if (t == severityName(s)) return s;
    }
    return std::nullopt;
}

std::string Diagnostic::toString() const {
    return loc.toString() + (warning ? ": warning: " : ": error: ") +
           (rule.empty() ? "" : "[" + rule + "] ") + message;
}

size_t LoadResult::errors() const {
    return static_cast<size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                             [](const Diagnostic& d) { return !d.warning; }));
}

std::string sigmaField(std::string_view name) {
    static const std::map<std::string, std::string, std::less<>> kMap = {
        {"Image", "exe"},
        {"CommandLine", "argv"},
        {"ParentImage", "parent_exe"},
        {"ParentCommandLine", "ppid_argv"},
        {"User", "username"},
        {"CurrentDirectory", "run_path"},
        {"ProcessId", "pid"},
        {"ParentProcessId", "ppid"},
        {"LogonId", "sessionid"},
        {"DestinationIp", "dip"},
        {"DestinationPort", "dport"},
        {"SourceIp", "sip"},
        {"SourcePort", "sport"},
        {"Protocol", "protocol"},
        {"TargetFilename", "file_path"},
        {"SourceFilename", "old_name"},
        {"QueryName", "query"},
        {"QueryType", "type"},
        {"Hashes", "exe_hash"},
        {"Container", "container_id"},
        {"Initiated", "initiated"},  // derived by the hub: 42 connect "true", 43 accept "false"
    };
    auto it = kMap.find(name);
    return it == kMap.end() ? std::string() : it->second;
}

std::vector<int32_t> sigmaCategory(std::string_view category) {
    if (category == "process_creation") return {59};
    if (category == "network_connection") return {42, 43};
    if (category == "file_event" || category == "file_create") return {602};
    if (category == "file_rename") return {82};
    if (category == "file_delete") return {605};
    if (category == "dns_query" || category == "dns") return {601};
    return {};
}

LoadResult loadRulesFromText(std::string_view yaml, const std::string& file_name) {
    LoadResult out;
    std::set<std::string> ids;
    loadText(yaml, file_name, out, ids);
    resolveAfter(out);
    return out;
}

namespace {

// The ids of a disabled list with their 1-based lines.
std::vector<std::pair<std::string, int>> disabledEntries(std::string_view text) {
    std::vector<std::pair<std::string, int>> out;
    std::set<std::string, std::less<>> seen;
    int line_no = 0;
    for (size_t i = 0; i < text.size();) {
        size_t j = text.find('\n', i);
        if (j == std::string_view::npos) j = text.size();
        std::string_view line = text.substr(i, j - i);
        i = j + 1;
        ++line_no;
        if (size_t hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
            line.remove_prefix(1);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
            line.remove_suffix(1);
        if (!line.empty() && seen.insert(std::string(line)).second)
            out.emplace_back(std::string(line), line_no);
    }
    return out;
}

}  // namespace

std::vector<std::string> parseDisabledList(std::string_view text) {
    std::vector<std::string> out;
    for (auto& [id, line] : disabledEntries(text)) out.push_back(std::move(id));
    return out;
}

namespace {

// Marks the rules named by a directory's disabled list, wherever in the loaded set they are
// defined (ids are unique across it), so a list next to the managed rules also switches off the
// default pack's. An id no loaded file defines is a warning.
void applyDisabledList(const std::string& dir, LoadResult& out) {
    const std::string list = (fs::path(dir) / kDisabledListFile).string();
    std::error_code ec;
    if (!fs::exists(list, ec)) return;
    auto text = vigil::fs::readFile(list, 16 << 20);
    if (!text.ok()) {
        out.diagnostics.push_back({SourceLoc{list, 0, 0}, "", "cannot read the file", false});
        ++out.failed;
        return;
    }
    for (const auto& [id, line] : disabledEntries(*text)) {
        bool found = false;
        for (auto& r : out.rules) {
            if (r.id != id) continue;
            r.enabled = false;
            found = true;
        }
        if (!found) {
            out.diagnostics.push_back({SourceLoc{list, line, 1}, id,
                                       "disabled rule is not defined in any loaded rule file",
                                       true});
        }
    }
}

}  // namespace

LoadResult loadRules(const std::vector<std::string>& paths) {
    LoadResult out;
    std::set<std::string> ids;
    std::vector<std::string> files;
    std::vector<std::string> dirs;  // their disabled lists apply once everything is loaded
    for (const auto& p : paths) {
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            std::vector<std::string> found;
            for (const auto& e : fs::directory_iterator(p, ec)) {
                const std::string ext = e.path().extension().string();
                if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml"))
                    found.push_back(e.path().string());
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
            dirs.push_back(p);
        } else {
            files.push_back(p);
        }
    }
    for (const auto& f : files) {
        auto text = vigil::fs::readFile(f);
        if (!text.ok()) {
            out.diagnostics.push_back({SourceLoc{f, 0, 0}, "", "cannot read the file", false});
            ++out.failed;
            continue;
        }
        loadText(*text, f, out, ids);
    }
    for (const auto& dir : dirs) applyDisabledList(dir, out);
    resolveAfter(out);
    return out;
}

}  // namespace vigil::hub
