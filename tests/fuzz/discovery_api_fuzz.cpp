// libFuzzer target for vigil-discovery's HTTP JSON handlers and the shared ApiRouter (server/
// common): fuzzer bytes become request bodies, queries and targets, dispatched in process (no
// sockets) to register/evict/sync/detail/list and to unknown paths, signed or not. Beyond "no
// crash, no hang, no leak": every answer is a JSON envelope with an integer code, 0 exactly
// when the status is 200, and the registry stays within its bounds.
// Input: byte 0 picks the operation, byte 1 the auth mode, the rest is the body or query.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "server/common/api_router.h"
#include "server/discovery/discovery_api.h"
#include "server/discovery/registry.h"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace {

using vigil::server::HttpRequest;
using vigil::server::HttpResponse;

constexpr int64_t kNow = 1700000000;
const vigil::server::AkSk kKey{"fuzz-ak", "fuzz-secret-0123456789"};
constexpr size_t kMaxInstances = 512;

// One discovery replica kept across inputs, so that registrations, syncs and look-ups meet.
struct Harness {
    vigil::metrics::Registry metrics;
    vigil::discovery::Registry registry{[] {
        vigil::discovery::RegistryOptions o;
        o.max_instances = kMaxInstances;
        o.max_detail = 20;
        return o;
    }()};
    vigil::discovery::NullChangeSink sink;
    vigil::discovery::DiscoveryApi api{registry, sink, metrics, {"fuzz-node", 64}};
    std::unique_ptr<vigil::server::ApiRouter> open;     // auth.disabled
    std::unique_ptr<vigil::server::ApiRouter> signed_;  // keys configured

    Harness() {
        vigil::server::ApiOptions o;
        o.name = "discovery";
        o.max_body_bytes = 8192;
        o.now_unix = [] { return kNow; };
        o.auth_disabled = true;
        open = std::make_unique<vigil::server::ApiRouter>(o, metrics);
        o.auth_disabled = false;
        o.verifier = std::make_shared<vigil::server::RequestVerifier>(
            std::map<std::string, std::string>{{kKey.access_key, kKey.secret_key}});
        signed_ = std::make_unique<vigil::server::ApiRouter>(o, metrics);
        api.install(*open);
        api.install(*signed_);
    }
};

Harness& harness() {
    static Harness* h = new Harness();  // never destroyed: libFuzzer exits without unwinding
    return *h;
}

void checkEnvelope(const HttpResponse& r) {
    FUZZ_CHECK(r.status >= 200 && r.status <= 599);
    if (r.content_type.rfind("text/plain", 0) == 0) return;  // /metrics
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    FUZZ_CHECK(j.is_object());
    FUZZ_CHECK(j.contains("code") && j["code"].is_number_integer());
    FUZZ_CHECK(j.contains("msg") && j["msg"].is_string());
    FUZZ_CHECK(j.contains("data"));
    FUZZ_CHECK((j["code"].get<int64_t>() == 0) == (r.status == 200));
    if (r.status != 200) FUZZ_CHECK(!j["msg"].get<std::string>().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    Harness& h = harness();
    const uint8_t op = data[0];
    const uint8_t mode = data[1];
    const std::string payload(reinterpret_cast<const char*>(data + 2), size - 2);

    HttpRequest req;
    req.remote = "127.0.0.1:1";
    switch (op % 8) {
        case 0:
            req.method = "POST";
            req.target = "/registry/register";
            req.body = payload;
            break;
        case 1:
            req.method = "POST";
            req.target = "/registry/evict";
            req.body = payload;
            break;
        case 2:
            req.method = "POST";
            req.target = "/registry/sync";
            req.body = payload;
            break;
        case 3:
            req.method = "GET";
            req.target = "/registry/detail?" + payload;
            break;
        case 4:
            req.method = "GET";
            req.target = "/registry/list";
            break;
        case 5: {
            // Free-form: "METHOD TARGET\nBODY".
            auto sp = payload.find(' ');
            auto nl = payload.find('\n');
            if (sp == std::string::npos || nl == std::string::npos || nl < sp) return 0;
            req.method = payload.substr(0, sp);
            req.target = payload.substr(sp + 1, nl - sp - 1);
            req.body = payload.substr(nl + 1);
            break;
        }
        case 6:
            req.method = "GET";
            req.target = "/healthz";
            h.registry.expire();
            break;
        default:
            req.method = "POST";
            req.target = "/registry/register/";
            req.body = payload;
            break;
    }

    vigil::server::ApiRouter* router = h.open.get();
    if (mode & 1) {
        router = h.signed_.get();
        auto [path, query] = vigil::server::splitTarget(req.target);
        if (mode & 2) {
            auto s =
                vigil::server::sign(kKey, req.method, path, query, req.body, kNow - (mode >> 4));
            req.headers = {{"AccessKey", s.access_key},
                           {"TimeStamp", s.timestamp},
                           {"Signature", s.signature}};
        } else {
            // Headers from the input: the verifier must refuse them cleanly.
            req.headers = {{"accesskey", kKey.access_key},
                           {"TIMESTAMP", std::to_string(kNow)},
                           {"Signature", payload.substr(0, 64)}};
        }
    }
    HttpResponse r = router->dispatch(req);
    checkEnvelope(r);
    const bool write = op % 8 == 0 || op % 8 == 1 || op % 8 == 2 || op % 8 == 7;
    if (write && (mode & 1)) {
        // Unsigned writes never get through; correctly signed ones (15 s of skew at most) do.
        if (mode & 2)
            FUZZ_CHECK(r.status != 401);
        else
            FUZZ_CHECK(r.status == 401 || r.status == 413);
    }
    FUZZ_CHECK(h.registry.size() <= kMaxInstances);
    if (op % 8 == 6) FUZZ_CHECK(h.registry.snapshot().size() <= 2 * kMaxInstances);  // + tombstones
    return 0;
}
