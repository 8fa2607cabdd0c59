// ApiRouter: routing, AK/SK checks, JSON parsing and the {"code","msg","data"} envelope.
#include "server/common/api_router.h"

#include <cctype>
#include <charconv>
#include <chrono>
#include <exception>

#include "libs/common/log.h"

namespace vigil::server {
namespace {

// The answer when building a reply itself failed (no allocation-heavy path).
HttpResponse internalError() {
    HttpResponse r;
    r.status = 500;
    r.body = R"({"code":500,"msg":"internal error","data":null})";
    return r;
}

using nlohmann::json;

constexpr size_t kMaxJsonDepth = 64;

// Trailing slashes are not significant ("/command/" == "/command"); the root stays "/".
std::string_view trimSlash(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return path;
}

std::vector<std::string_view> segments(std::string_view path) {
    std::vector<std::string_view> out;
    path = trimSlash(path);
    size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        out.push_back(path.substr(i, j - i));
        i = j;
    }
    return out;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string decodeComponent(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 &&
                   hexValue(s[i + 2]) >= 0) {
            out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

// Deepest nesting of arrays/objects, scanning outside strings. nlohmann parses iteratively but
// serialises recursively: a body of 100,000 '[' must be refused before anyone dumps it.
size_t jsonDepth(std::string_view text) {
    size_t depth = 0, max_depth = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"')
            in_string = true;
        else if (c == '[' || c == '{')
            max_depth = std::max(max_depth, ++depth);
        else if ((c == ']' || c == '}') && depth > 0)
            --depth;
    }
    return max_depth;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The parse error without nlohmann's "[json.exception.parse_error.101] " prefix.
std::string parseErrorText(const std::exception& e) {
    std::string_view what = e.what();
    if (!what.empty() && what.front() == '[') {
        auto close = what.find("] ");
        if (close != std::string_view::npos) what.remove_prefix(close + 2);
    }
    return std::string(what);
}

std::string describe(const json& v) {
    std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > 64) text = text.substr(0, 61) + "...";
    return text;
}

int64_t systemNow() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct ApiRouter::Route {
    std::string method;
    std::string label;  // the pattern, trailing slash removed: the metrics' route label
    std::vector<std::string> parts;
    Auth auth = Auth::kOpen;
    Body body = Body::kJson;
    ApiHandler handler;

    bool matches(const std::vector<std::string_view>& path,
                 std::map<std::string, std::string>& params) const {
        if (path.size() != parts.size()) return false;
        for (size_t i = 0; i < parts.size(); ++i) {
            if (!parts[i].empty() && parts[i][0] == ':') continue;
            if (parts[i] != path[i]) return false;
        }
        for (size_t i = 0; i < parts.size(); ++i) {
            if (!parts[i].empty() && parts[i][0] == ':')
                params[parts[i].substr(1)] = decodeComponent(path[i]);
        }
        return true;
    }
};

// ---- ApiRequest / ApiReply -------------------------------------------------------------------

std::string ApiRequest::param(std::string_view key, std::string fallback) const {
    auto it = params.find(std::string(key));
    return it == params.end() ? std::move(fallback) : it->second;
}

std::string ApiRequest::header(std::string_view name) const {
    auto it = headers.find(lower(name));
    return it == headers.end() ? std::string() : it->second;
}

ApiReply ApiReply::ok(nlohmann::json data) {
    ApiReply r;
    r.data = std::move(data);
    return r;
}

ApiReply ApiReply::error(int status, std::string msg, int code) {
    ApiReply r;
    r.status = status;
    r.code = code != 0 ? code : status;
    r.msg = std::move(msg);
    return r;
}

ApiReply ApiReply::streamed(std::string content_type, StreamBody body) {
    ApiReply r;
    r.raw = true;
    r.content_type = std::move(content_type);
    r.stream = std::move(body);
    return r;
}

ApiReply ApiReply::text(std::string body, std::string content_type) {
    ApiReply r;
    r.raw = true;
    r.raw_body = std::move(body);
    r.content_type = std::move(content_type);
    return r;
}

// ---- JsonFields -------------------------------------------------------------------------------

JsonFields::JsonFields(const nlohmann::json& object, std::string where)
    : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) {
        problem_ = where_ + ": must be a JSON object, got " +
                   (object_.is_null() ? std::string("nothing") : describe(object_));
    }
}

void JsonFields::fail(std::string_view key, std::string message) {
    if (problem_.empty()) problem_ = where_ + "." + std::string(key) + ": " + message;
}

const nlohmann::json* JsonFields::find(std::string_view key, bool required) {
    if (!object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) {
        if (required) fail(key, "is required");
        return nullptr;
    }
    return &*it;
}

std::string JsonFields::string(std::string_view key, bool required, size_t max_bytes) {
    const json* v = find(key, required);
    if (!v) return {};
    if (!v->is_string()) {
        fail(key, "must be a string, got " + describe(*v));
        return {};
    }
    const auto& s = v->get_ref<const std::string&>();
    if (required && s.empty()) {
        fail(key, "must not be empty");
        return {};
    }
    if (s.size() > max_bytes) {
        fail(key, "is longer than " + std::to_string(max_bytes) + " bytes");
        return {};
    }
    return s;
}

int64_t JsonFields::integer(std::string_view key, bool required, int64_t min, int64_t max,
                            int64_t fallback) {
    const json* v = find(key, required);
    if (!v) return fallback;
    int64_t value = 0;
    if (v->is_number_integer()) {
        if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
            fail(key, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                          ", got " + describe(*v));
            return fallback;
        }
        value = v->get<int64_t>();
    } else {
        fail(key, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                      ", got " + describe(*v));
        return fallback;
    }
    if (value < min || value > max) {
        fail(key, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                      ", got " + std::to_string(value));
        return fallback;
    }
    return value;
}

bool JsonFields::boolean(std::string_view key, bool required, bool fallback) {
    const json* v = find(key, required);
    if (!v) return fallback;
    if (!v->is_boolean()) {
        fail(key, "must be true or false, got " + describe(*v));
        return fallback;
    }
    return v->get<bool>();
}

const nlohmann::json* JsonFields::object(std::string_view key, bool required) {
    const json* v = find(key, required);
    if (!v) return nullptr;
    if (!v->is_object()) {
        fail(key, "must be a JSON object, got " + describe(*v));
        return nullptr;
    }
    return v;
}

const nlohmann::json* JsonFields::array(std::string_view key, bool required, size_t max_items) {
    const json* v = find(key, required);
    if (!v) return nullptr;
    if (!v->is_array()) {
        fail(key, "must be a JSON array, got " + describe(*v));
        return nullptr;
    }
    if (v->size() > max_items) {
        fail(key, "has " + std::to_string(v->size()) + " items, at most " +
                      std::to_string(max_items) + " are accepted");
        return nullptr;
    }
    return v;
}

Result<int64_t> intParam(const ApiRequest& request, std::string_view key, int64_t fallback,
                         int64_t min, int64_t max) {
    auto it = request.params.find(std::string(key));
    if (it == request.params.end() || it->second.empty()) return fallback;
    const std::string& s = it->second;
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size() || v < min || v > max) {
        return makeError("query parameter {} must be an integer in {}..{}, got {}", key, min, max,
                         describe(json(s.size() > 32 ? s.substr(0, 29) + "..." : s)));
    }
    return v;
}

// ---- target helpers -----------------------------------------------------------------------------

std::pair<std::string, std::string> splitTarget(std::string_view target) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {std::string(target), {}};
    return {std::string(target.substr(0, q)), std::string(target.substr(q + 1))};
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
    std::map<std::string, std::string> out;
    size_t i = 0;
    while (i <= query.size()) {
        size_t j = query.find('&', i);
        if (j == std::string_view::npos) j = query.size();
        std::string_view pair = query.substr(i, j - i);
        if (!pair.empty()) {
            auto eq = pair.find('=');
            std::string key = decodeComponent(pair.substr(0, eq));
            std::string value =
                eq == std::string_view::npos ? std::string() : decodeComponent(pair.substr(eq + 1));
            out.emplace(std::move(key), std::move(value));  // first occurrence wins
        }
        i = j + 1;
    }
    return out;
}

std::string urlEncode(std::string_view text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

// ---- ApiRouter ----------------------------------------------------------------------------------

ApiRouter::ApiRouter(ApiOptions options, metrics::Registry& metrics)
    : options_(std::move(options)), metrics_(metrics) {
    if (!options_.now_unix) options_.now_unix = systemNow;
    if (options_.serve_metrics) {
        get(
            "/metrics",
            [this](const ApiRequest&) {
                return ApiReply::text(metrics_.renderPrometheus(),
                                      "text/plain; version=0.0.4; charset=utf-8");
            },
            Auth::kOpen);
    }
    if (options_.serve_health) {
        get(
            "/healthz",
            [this](const ApiRequest&) {
                if (health_) {
                    Status s = health_();
                    if (!s.ok()) return ApiReply::error(503, "unhealthy: " + s.message());
                }
                return ApiReply::ok(json{{"status", "ok"}});
            },
            Auth::kOpen);
    }
}

ApiRouter::~ApiRouter() = default;

void ApiRouter::get(std::string pattern, ApiHandler handler, Auth auth) {
    route("GET", std::move(pattern), std::move(handler), auth, Body::kRaw);
}

void ApiRouter::post(std::string pattern, ApiHandler handler, Auth auth, Body body) {
    route("POST", std::move(pattern), std::move(handler), auth, body);
}

void ApiRouter::route(std::string method, std::string pattern, ApiHandler handler, Auth auth,
                      Body body) {
    auto r = std::make_unique<Route>();
    r->method = std::move(method);
    r->label = std::string(trimSlash(pattern));
    for (auto part : segments(pattern)) r->parts.emplace_back(part);
    r->auth = auth;
    r->body = body;
    r->handler = std::move(handler);
    for (auto& existing : routes_) {
        if (existing->method == r->method && existing->label == r->label) {
            existing = std::move(r);
            return;
        }
    }
    routes_.push_back(std::move(r));
}

void ApiRouter::setHealthCheck(std::function<Status()> check) {
    health_ = std::move(check);
}

const ApiRouter::Route* ApiRouter::match(std::string_view path, std::string_view method,
                                         bool& path_known,
                                         std::map<std::string, std::string>& path_params) const {
    auto parts = segments(path);
    path_known = false;
    for (const auto& r : routes_) {
        std::map<std::string, std::string> params;
        if (!r->matches(parts, params)) continue;
        path_known = true;
        // HEAD is served by GET routes (the transport drops the body).
        if (r->method == method || (method == "HEAD" && r->method == "GET")) {
            path_params = std::move(params);
            return r.get();
        }
    }
    return nullptr;
}

void ApiRouter::count(std::string_view route, int status) const {
    metrics_
        .counter("vigil_http_requests_total", "HTTP requests answered, by server, route and status",
                 {{"server", options_.name},
                  {"route", std::string(route)},
                  {"code", std::to_string(status)}})
        .inc();
}

HttpResponse ApiRouter::render(const ApiReply& reply) const {
    HttpResponse out;
    out.status = reply.status;
    out.headers = reply.headers;
    if (reply.raw) {
        out.content_type =
            reply.content_type.empty() ? "text/plain; charset=utf-8" : reply.content_type;
        out.body = reply.raw_body;
        out.stream = reply.stream;
        return out;
    }
    json envelope = {{"code", reply.code}, {"msg", reply.msg}, {"data", reply.data}};
    // Replacement instead of an exception for invalid UTF-8 echoed from a request.
    out.body = envelope.dump(-1, ' ', false, json::error_handler_t::replace);
    out.content_type = "application/json";
    return out;
}

HttpResponse ApiRouter::transportError(const HttpRequest& request, int status,
                                       std::string msg) const noexcept {
    try {
        auto [path, query] = splitTarget(request.target);
        bool known = false;
        std::map<std::string, std::string> pp;
        const Route* r = match(path, request.method, known, pp);
        count(r ? std::string_view(r->label) : std::string_view("unmatched"), status);
        return render(ApiReply::error(status, std::move(msg)));
    } catch (...) {
        return internalError();
    }
}

HttpResponse ApiRouter::dispatch(const HttpRequest& request) const noexcept {
    try {
        return dispatchUnsafe(request);
    } catch (const std::exception& e) {
        // Only reachable on allocation failure or a bug in the router itself.
        VIGIL_LOG_RATE_LIMITED(log::get(options_.name), spdlog::level::err, "request {} {}: {}",
                               request.method, request.target.substr(0, 200), e.what());
    } catch (...) {
    }
    return internalError();
}

HttpResponse ApiRouter::dispatchUnsafe(const HttpRequest& request) const {
    auto [path, query] = splitTarget(request.target);
    if (path.empty() || path.front() != '/') {
        count("unmatched", 400);
        return render(ApiReply::badRequest("request target must start with '/'"));
    }
    bool path_known = false;
    ApiRequest req;
    const Route* r = match(path, request.method, path_known, req.path_params);
    if (!r) {
        int status = path_known ? 405 : 404;
        count("unmatched", status);
        std::string shown = path.size() > 100 ? path.substr(0, 97) + "..." : path;
        return render(path_known ? ApiReply::error(405, "method " + request.method.substr(0, 16) +
                                                            " is not allowed on " + shown)
                                 : ApiReply::notFound("no such path: " + shown));
    }
    auto reply = [&](const ApiReply& a) {
        count(r->label, a.status);
        return render(a);
    };
    if (request.body.size() > options_.max_body_bytes) {
        return reply(ApiReply::error(413, "request body of " + std::to_string(request.body.size()) +
                                              " bytes is over the limit of " +
                                              std::to_string(options_.max_body_bytes) + " bytes"));
    }
    for (const auto& [k, v] : request.headers) req.headers.emplace(lower(k), v);

    if (r->auth == Auth::kSigned && !options_.auth_disabled) {
        if (!options_.verifier || !options_.verifier->enabled()) {
            return reply(
                ApiReply::error(401,
                                "signed requests are refused: this server has no access keys "
                                "configured (auth.keys or auth.keys_file)"));
        }
        const std::string ak = req.header("AccessKey");
        Status s = options_.verifier->verify(request.method, path, query, request.body, ak,
                                             req.header("TimeStamp"), req.header("Signature"),
                                             options_.now_unix());
        if (!s.ok()) {
            VIGIL_LOG_RATE_LIMITED(log::get(options_.name), spdlog::level::warn,
                                   "{} {} from {}: refused: {}", request.method, r->label,
                                   request.remote, s.message());
            return reply(ApiReply::error(401, "authentication failed: " + s.message()));
        }
        req.access_key = ak;
    }

    if (r->body == Body::kJson && !request.body.empty()) {
        if (jsonDepth(request.body) > kMaxJsonDepth) {
            return reply(
                ApiReply::badRequest("request body is not acceptable JSON: nested deeper than " +
                                     std::to_string(kMaxJsonDepth) + " levels"));
        }
        try {
            req.json = json::parse(request.body);
        } catch (const json::exception& e) {
            return reply(
                ApiReply::badRequest("request body is not valid JSON: " + parseErrorText(e)));
        }
    }
    req.method = request.method;
    req.path = path;
    req.query = query;
    req.params = parseQuery(query);
    req.body = request.body;
    req.remote = request.remote;

    ApiReply a;
    try {
        a = r->handler(req);
    } catch (const std::exception& e) {
        metrics_
            .counter("vigil_http_handler_exceptions_total", "Handlers that threw (answered 500)",
                     {{"server", options_.name}, {"route", r->label}})
            .inc();
        VIGIL_LOG_RATE_LIMITED(log::get(options_.name), spdlog::level::err,
                               "{} {}: handler failed: {}", request.method, r->label, e.what());
        a = ApiReply::error(
            500, "internal error while handling " + r->label + "; the server log has details");
    } catch (...) {
        metrics_
            .counter("vigil_http_handler_exceptions_total", "Handlers that threw (answered 500)",
                     {{"server", options_.name}, {"route", r->label}})
            .inc();
        a = ApiReply::error(
            500, "internal error while handling " + r->label + "; the server log has details");
    }
    if (a.status < 100 || a.status > 599) a.status = 500;
    if (a.status >= 400 && a.code == 0) a.code = a.status;
    return reply(a);
}

}  // namespace vigil::server
