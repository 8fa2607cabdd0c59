// libFuzzer target for vigil-center's admin HTTP JSON handlers (/conn/*, /command/, /plugins/
// reload), dispatched in process through the shared ApiRouter with a connected fake agent:
// bodies and targets come from the fuzzer. Every answer must be a JSON envelope with an integer
// code (0 exactly on 200); commands that reach the agent must encode and parse back.
// Input: byte 0 picks the route, the rest is the body.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "libs/wire/command.h"
#include "server/center/admin_api.h"
#include "server/center/config_pusher.h"
#include "server/center/connection_registry.h"
#include "server/center/upload_store.h"
#include "server/common/api_router.h"

#define FUZZ_CHECK(cond)               \
    do {                               \
        if (!(cond)) __builtin_trap(); \
    } while (0)

namespace {

class FakeAgent : public vigil::center::AgentConnection {
public:
    bool sendCommand(const vigil::wire::AgentCommand& c) override {
        vigil::wire::AgentCommand back;
        FUZZ_CHECK(vigil::wire::parseCommand(vigil::wire::encodeCommand(c), back));
        FUZZ_CHECK(back == c);
        return true;
    }
    void reset(const std::string&) override {}
    Info info() const override {
        Info i;
        i.agent_id = "agent-1";
        return i;
    }
};

struct Harness {
    vigil::metrics::Registry metrics;
    vigil::center::ConnectionRegistry registry{16};
    vigil::center::UploadStore uploads{"/tmp/vigil-center-api-fuzz", 1 << 20, std::chrono::seconds(60), metrics};
    vigil::center::ConfigPusher pusher{nullptr, registry, metrics};
    std::unique_ptr<vigil::server::ApiRouter> router;

    Harness() {
        vigil::server::ApiOptions o;
        o.name = "center";
        o.max_body_bytes = 16384;
        o.auth_disabled = true;
        router = std::make_unique<vigil::server::ApiRouter>(o, metrics);
        vigil::center::addAdminRoutes(*router, {&registry, &uploads, &pusher, "vigil-agent"});
        (void)registry.bind("agent-1", std::make_shared<FakeAgent>());
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Harness* h = new Harness();
    if (size == 0) return 0;
    static const char* kRoutes[][2] = {{"POST", "/command/"}, {"POST", "/conn/reset"}, {"GET", "/conn/stat"},
                                       {"GET", "/conn/list"},  {"GET", "/conn/count"},  {"POST", "/plugins/reload"},
                                       {"POST", "/command"},   {"GET", "/nope"}};
    const auto& route = kRoutes[data[0] % (sizeof(kRoutes) / sizeof(kRoutes[0]))];
    vigil::server::HttpRequest req;
    req.method = route[0];
    req.target = route[1];
    req.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    req.headers = {{"Content-Type", "application/json"}};
    vigil::server::HttpResponse resp = h->router->dispatch(req);
    auto j = nlohmann::json::parse(resp.body, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.contains("code") && j["code"].is_number_integer());
    FUZZ_CHECK((j["code"].get<int>() == 0) == (resp.status == 200));
    return 0;
}
