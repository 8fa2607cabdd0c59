// ApiRouter: the transport-free half of the servers' HTTP JSON APIs (discovery, center admin,
// manager): routes, AK/SK verification, body size cap, JSON parsing, Elkeid's response envelope
// {"code":0,"msg":"ok","data":...}, per-route metrics, /metrics and /healthz. ApiServer
// (api_server.h) puts it behind cpp-httplib; tests and fuzzers call dispatch() directly.
// Thread-safety: add routes before serving; dispatch() may then run on any number of threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/common/auth.h"

namespace vigil::server {

// Whether a route needs an AK/SK signature (DESIGN.md §3). Only health and metrics are open in
// production (§5); reads of discovery are open too, as in Elkeid.
enum class Auth { kOpen, kSigned };

// How the body of a POST route is handed to its handler.
enum class Body {
    kJson,  // must be a JSON document (an empty body is null); else 400 with the parse error
    kRaw,   // passed through as bytes
};

// Codes of the response envelope. 0 is success; errors use the HTTP status as their code unless
// a handler chooses another non-zero code.
namespace code {
inline constexpr int kOk = 0;
inline constexpr int kBadRequest = 400;
inline constexpr int kUnauthorized = 401;
inline constexpr int kNotFound = 404;
inline constexpr int kMethodNotAllowed = 405;
inline constexpr int kTooLarge = 413;
inline constexpr int kInternal = 500;
inline constexpr int kUnavailable = 503;
}  // namespace code

// A request as the transport received it.
struct HttpRequest {
    std::string method;  // "GET", "POST", ...
    std::string target;  // path and query exactly as sent: "/registry/detail?name=x&count=2"
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::string remote;  // "ip:port" of the peer, for logs
};

// A streamed body (server-sent events, large exports): the transport sends the status and
// headers, then calls the StreamBody once on its worker thread, which writes chunks until it
// returns (true: the body is complete; false: abort, the client sees a truncated body).
// `write` returns false once the client is gone; `alive` is false once the client is gone or the
// server is stopping (a long stream must check it at least every second). Never write an empty
// chunk.
struct StreamSink {
    std::function<bool(std::string_view chunk)> write;
    std::function<bool()> alive;
};
using StreamBody = std::function<bool(StreamSink& sink)>;

// What the transport sends back.
struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After)
    StreamBody stream;  // set: the body is streamed (chunked) instead of `body`
};

// The request as a handler sees it (built by the router).
struct ApiRequest {
    std::string method;
    std::string path;   // raw path, without the query
    std::string query;  // raw query, without '?'
    std::string body;
    std::string remote;
    std::string access_key;                          // the verified key of a signed request
    std::map<std::string, std::string> params;       // decoded query parameters (first of each)
    std::map<std::string, std::string> path_params;  // ":name" segments of the route pattern
    std::map<std::string, std::string> headers;      // names lower-cased
    nlohmann::json json;                             // parsed body (Body::kJson), else null

    bool hasParam(std::string_view key) const { return params.count(std::string(key)) != 0; }
    std::string param(std::string_view key, std::string fallback = {}) const;
    std::string header(std::string_view name) const;  // case-insensitive; empty when absent
};

// A handler's answer. Serialised as {"code":code,"msg":msg,"data":data} unless raw.
struct ApiReply {
    int status = 200;
    int code = code::kOk;
    std::string msg = "ok";
    nlohmann::json data;  // null is sent as "data": null
    bool raw = false;     // send raw_body as is with content_type (e.g. /metrics)
    std::string raw_body;
    std::string content_type;
    std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
    StreamBody stream;  // a streamed body (see StreamSink); set by streamed()

    static ApiReply ok(nlohmann::json data = nullptr);
    // A 200 whose body `body` writes as it goes (chunked transfer encoding).
    static ApiReply streamed(std::string content_type, StreamBody body);
    // A non-2xx answer; `code` 0 means "use the HTTP status as the code".
    static ApiReply error(int status, std::string msg, int code = 0);
    static ApiReply badRequest(std::string msg) { return error(400, std::move(msg)); }
    static ApiReply notFound(std::string msg) { return error(404, std::move(msg)); }
    static ApiReply text(std::string body, std::string content_type = "text/plain; charset=utf-8");
};

using ApiHandler = std::function<ApiReply(const ApiRequest&)>;

// Reads typed fields of a JSON object for a handler. Every getter returns its fallback on a
// problem and keeps the first problem ("body.port: must be an integer in 1..65535, got \"x\"")
// so that the handler answers 400 with it. Not thread-safe; one per request.
class JsonFields {
public:
    // `where` prefixes problems ("body", "body.data[3].registry"). A non-object is a problem.
    explicit JsonFields(const nlohmann::json& object, std::string where = "body");

    std::string string(std::string_view key, bool required, size_t max_bytes = 1024);
    int64_t integer(std::string_view key, bool required, int64_t min, int64_t max,
                    int64_t fallback = 0);
    bool boolean(std::string_view key, bool required, bool fallback = false);
    // The member when it is an object (or array); nullptr when absent or of another type.
    const nlohmann::json* object(std::string_view key, bool required);
    const nlohmann::json* array(std::string_view key, bool required, size_t max_items);

    // Records a problem found by the handler's own checks ("body.name: must be ...").
    void fail(std::string_view key, std::string message);

    bool ok() const { return problem_.empty(); }
    const std::string& problem() const { return problem_; }
    ApiReply badRequest() const { return ApiReply::badRequest(problem_); }
    const std::string& where() const { return where_; }

private:
    const nlohmann::json* find(std::string_view key, bool required);

    const nlohmann::json& object_;
    std::string where_;
    std::string problem_;
};

// An integer query parameter: `fallback` when absent, an error message when malformed or out
// of [min, max].
Result<int64_t> intParam(const ApiRequest& request, std::string_view key, int64_t fallback,
                         int64_t min, int64_t max);

struct ApiOptions {
    std::string name = "api";         // label `server` of the metrics, logger name
    size_t max_body_bytes = 1 << 20;  // larger bodies get 413
    // Keys for Auth::kSigned routes. Null or without keys: signed routes answer 401 unless
    // auth_disabled (which the owner must warn about loudly).
    std::shared_ptr<const RequestVerifier> verifier;
    bool auth_disabled = false;
    std::function<int64_t()> now_unix;  // clock for the timestamp window; default system
    bool serve_metrics = true;          // GET /metrics (open)
    bool serve_health = true;           // GET /healthz (open)
};

class ApiRouter {
public:
    ApiRouter(ApiOptions options, metrics::Registry& metrics);
    ~ApiRouter();
    ApiRouter(const ApiRouter&) = delete;
    ApiRouter& operator=(const ApiRouter&) = delete;

    // Patterns are paths with optional ":name" segments ("/api/v1/hosts/:id"); a trailing slash
    // is ignored both in patterns and requests ("/command/" == "/command"). Registering the
    // same method and pattern again replaces the handler.
    void get(std::string pattern, ApiHandler handler, Auth auth);
    void post(std::string pattern, ApiHandler handler, Auth auth, Body body = Body::kJson);
    void route(std::string method, std::string pattern, ApiHandler handler, Auth auth,
               Body body = Body::kJson);

    // /healthz answers 200 {"code":0,...} when the check passes (or none is set), else 503 with
    // the check's message.
    void setHealthCheck(std::function<Status()> check);

    // Routes one request: 404 unknown path, 405 wrong method, 413 body over the cap, 401
    // missing/stale/bad signature, 400 bad JSON, the handler's reply, or 500 when the handler
    // throws (logged and counted in vigil_http_handler_exceptions_total). Never throws.
    HttpResponse dispatch(const HttpRequest& request) const noexcept;

    // An error envelope for errors the transport detects itself (e.g. a body over the cap seen
    // before it was read), counted like dispatched requests.
    HttpResponse transportError(const HttpRequest& request, int status,
                                std::string msg) const noexcept;

    const ApiOptions& options() const { return options_; }
    metrics::Registry& metrics() const { return metrics_; }

private:
    struct Route;
    const Route* match(std::string_view path, std::string_view method, bool& path_known,
                       std::map<std::string, std::string>& path_params) const;
    HttpResponse render(const ApiReply& reply) const;
    void count(std::string_view route, int status) const;
    HttpResponse dispatchUnsafe(const HttpRequest& request) const;

    ApiOptions options_;
    metrics::Registry& metrics_;
    std::vector<std::unique_ptr<Route>> routes_;
    std::function<Status()> health_;
};

// Splits "path?query"; the query is empty when there is none.
std::pair<std::string, std::string> splitTarget(std::string_view target);
// Decodes application/x-www-form-urlencoded pairs ("a=1&b=x%20y"); malformed escapes are kept
// verbatim. Returns the first value of each key.
std::map<std::string, std::string> parseQuery(std::string_view query);
// Percent-encoding for query values (unreserved characters kept).
std::string urlEncode(std::string_view text);

}  // namespace vigil::server
