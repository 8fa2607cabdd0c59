// Logins, sessions and the first-run admin.
#include "server/manager/auth/authenticator.h"

#include <chrono>

namespace vigil::manager::auth {
namespace {

int64_t systemNowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

metrics::Counter& loginCounter(metrics::Registry& m, const char* result) {
    return m.counter("vigil_manager_logins_total", "Login attempts by result",
                     {{"result", result}});
}

}  // namespace

Authenticator::Authenticator(Store& store, AuthOptions options, metrics::Registry& metrics)
    : store_(store),
      options_(std::move(options)),
      limiter_(options_.max_failures, options_.failure_window_ms),
      ok_(loginCounter(metrics, "ok")),
      bad_(loginCounter(metrics, "bad_credentials")),
      limited_(loginCounter(metrics, "rate_limited")) {
    if (!options_.now_ms) options_.now_ms = systemNowMs;
    dummy_hash_ = hashPassword(randomPassword(), options_.hash_cost).valueOr("");
}

LoginResult Authenticator::login(const std::string& username, const std::string& password,
                                 const std::string& remote_ip) {
    LoginResult out;
    const int64_t now = options_.now_ms();
    const std::string user_key = "user:" + username;
    const std::string ip_key = "ip:" + remote_ip;
    // Each try counts as a failure of both keys until it succeeds, so that concurrent tries
    // cannot pass the limit together.
    int64_t wait = limiter_.attempt(user_key, now);
    if (wait == 0) {
        wait = limiter_.attempt(ip_key, now);
        if (wait > 0) limiter_.forgetAttempt(user_key, now);
    }
    if (wait > 0) {
        limited_.inc();
        out.outcome = LoginOutcome::kRateLimited;
        out.retry_after_ms = wait;
        return out;
    }
    auto user = store_.getUser(username);
    if (!user.ok()) {
        limiter_.forgetAttempt(user_key, now);
        limiter_.forgetAttempt(ip_key, now);
        out.error = user.message();
        return out;
    }
    bool good = false;
    if (*user && !(*user)->disabled) {
        good = verifyPassword(password, (*user)->password_hash);
    } else {
        verifyPassword(password, dummy_hash_);  // same cost as a wrong password
    }
    if (!good) {
        bad_.inc();
        out.outcome = LoginOutcome::kBadCredentials;
        return out;
    }
    limiter_.reset(user_key);
    limiter_.forgetAttempt(ip_key, now);
    Session s;
    out.token = newSessionToken();
    s.token_hash = tokenHash(out.token);
    s.username = username;
    s.created_at_ms = now;
    s.expires_at_ms = now + options_.session_ttl_ms;
    s.role = (*user)->role;
    auto created = store_.createSession(s);
    if (!created.ok() || !*created) {
        out.token.clear();
        out.error = created.ok() ? "session token collision" : created.message();
        return out;
    }
    ok_.inc();
    out.outcome = LoginOutcome::kOk;
    out.session = std::move(s);
    return out;
}

Result<std::optional<Session>> Authenticator::authenticate(const std::string& token) {
    if (token.empty() || token.size() > 256) return std::optional<Session>();
    return store_.getSession(tokenHash(token));
}

Result<bool> Authenticator::logout(const std::string& token) {
    return store_.deleteSession(tokenHash(token));
}

Result<std::string> bootstrapAdmin(Store& store, const std::string& password, HashCost cost,
                                   int64_t now_ms) {
    auto users = store.listUsers();
    if (!users.ok()) return users.error();
    if (!users->empty()) return std::string();
    std::string chosen = password.empty() ? randomPassword() : password;
    auto hash = hashPassword(chosen, cost);
    if (!hash.ok()) return hash.error();
    User admin;
    admin.username = "admin";
    admin.role = Role::kAdmin;
    admin.password_hash = *hash;
    admin.created_at_ms = now_ms;
    auto created = store.createUser(admin);
    if (!created.ok()) return created.error();
    AuditEntry audit;
    audit.time_ms = now_ms;
    audit.username = "system";
    audit.action = "user.create";
    audit.target = "admin";
    audit.detail_json = R"({"role":"admin","bootstrap":true})";
    VIGIL_TRY(store.appendAudit(audit));
    return password.empty() && *created ? chosen : std::string();
}

std::string remoteIp(const std::string& remote) {
    if (!remote.empty() && remote.front() == '[') {
        auto close = remote.find(']');
        return close == std::string::npos ? remote : remote.substr(1, close - 1);
    }
    auto colon = remote.rfind(':');
    if (colon == std::string::npos || remote.find(':') != colon) return remote;
    return remote.substr(0, colon);
}

}  // namespace vigil::manager::auth
