// A fixture for the manager API's route tests, parameterised by backend ("sqlite",
// "postgresql"): a temp dir, a fresh store (an SQLite file there, or a PostgreSQL schema of its
// own on the test server), the authenticator with the first admin, a router and, once
// makeApi() is called, the ManagerApi with the given services. Requests go through
// ApiRouter::dispatch.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/manager/api/manager_api.h"
#include "server/manager/store/test/pg_test_server.h"

namespace vigil::manager::api::testing {

// 2023-11-14 22:00:00 UTC: where the tests' clock starts.
inline constexpr int64_t kT0 = 1700000000000 - 1700000000000 % 3600000;
inline constexpr const char* kAdminPassword = "admin-password-1";

struct Reply {
    int status = 0;
    nlohmann::json body;  // parsed (discarded when the body is not JSON)
    std::string raw;      // the body as sent; a streamed body read whole
    std::vector<std::pair<std::string, std::string>> headers;
    std::string content_type;
    nlohmann::json data() const { return body.value("data", nlohmann::json()); }
    std::string msg() const { return body.value("msg", std::string()); }
    std::string header(const std::string& name) const;
};

class ApiFixture : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override;
    void TearDown() override;

    void makeApi(ManagerServices services = {});
    // `body`: JSON (null: none) or, with raw_body, bytes as given.
    // `remote`: the client's address as the router sees it (the login rate limit counts by it).
    Reply call(const std::string& method, const std::string& target, const std::string& token,
               const nlohmann::json& body = nullptr, const std::string& remote = "127.0.0.1:40000");
    Reply callRaw(const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body, const std::string& remote = "127.0.0.1:40000");
    std::string adminToken();
    std::string userToken(const std::string& name, const std::string& role);
    std::vector<AuditEntry> audit(const std::string& action);
    void setNow(int64_t ms) { now_->store(ms); }
    int64_t now() const { return now_->load(); }

    // An alert as the hub writes it (its JSON kept), numbered `i`.
    Alert hubAlert(int i, const std::string& rule, int host, const std::string& severity,
                   int64_t time_s, const nlohmann::json& fields);

    std::string dir_;
    metrics::Registry metrics_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<auth::Authenticator> auth_;
    std::unique_ptr<server::ApiRouter> router_;
    std::unique_ptr<ManagerApi> api_;

private:
    std::shared_ptr<std::atomic<int64_t>> now_ = std::make_shared<std::atomic<int64_t>>(kT0);
    std::unique_ptr<manager::testing::PgSchema> schema_;
};

// The backends every store-touching test runs on.
inline auto backends() {
    return ::testing::Values(std::string("sqlite"), std::string("postgresql"));
}

}  // namespace vigil::manager::api::testing
