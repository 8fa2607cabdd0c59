// Logins, sessions and the first-run admin of vigil-manager (DESIGN.md §5): argon2id password
// checks, session tokens (the store keeps their SHA-256) with an expiry, the login rate limit
// per username and per remote IP, counted in metrics. Thread-safe: the store is, the rate
// limiter locks, the rest is immutable after construction.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "libs/common/metrics.h"
#include "libs/common/result.h"
#include "server/manager/auth/password.h"
#include "server/manager/auth/rate_limiter.h"
#include "server/manager/store/store.h"

namespace vigil::manager::auth {

struct AuthOptions {
    int64_t session_ttl_ms = 12 * 3600 * 1000;
    HashCost hash_cost = HashCost::kInteractive;
    // Login rate limit: more than max_failures failed logins of one username, or from one
    // remote IP, within failure_window_ms are answered 429 until the window moves on.
    size_t max_failures = 5;
    int64_t failure_window_ms = 5 * 60 * 1000;
    // The clock (milliseconds since the epoch); empty = the system clock. Give the store the
    // same one, since it decides whether a session has expired.
    std::function<int64_t()> now_ms;
};

enum class LoginOutcome { kOk, kBadCredentials, kRateLimited, kError };

struct LoginResult {
    LoginOutcome outcome = LoginOutcome::kError;
    std::string token;           // kOk: the session token (given to the client once)
    Session session;             // kOk: the stored session (token_hash, expiry, role)
    int64_t retry_after_ms = 0;  // kRateLimited
    std::string error;           // kError: the store's failure
};

class Authenticator {
public:
    // `store` and `metrics` must outlive the authenticator.
    Authenticator(Store& store, AuthOptions options, metrics::Registry& metrics);

    // Checks the password of an enabled user; `remote_ip` keys the per-IP limit.
    LoginResult login(const std::string& username, const std::string& password,
                      const std::string& remote_ip);
    // The session of a token: empty when unknown, expired or its user disabled or deleted.
    Result<std::optional<Session>> authenticate(const std::string& token);
    // Ends the session of a token; false when there was none.
    Result<bool> logout(const std::string& token);

    Result<std::string> hash(std::string_view password) const {
        return hashPassword(password, options_.hash_cost);
    }
    int64_t now() const { return options_.now_ms(); }
    const AuthOptions& options() const { return options_; }

private:
    Store& store_;
    AuthOptions options_;
    LoginRateLimiter limiter_;
    metrics::Counter& ok_;
    metrics::Counter& bad_;
    metrics::Counter& limited_;
    // A hash verified for unknown users, so that their answer takes as long as a wrong password.
    std::string dummy_hash_;
};

// When the store has no user: creates `admin` (role admin) with `password`, or with a random
// one when `password` is empty. Returns the random password (to show once), empty when the
// password was given or users already exist.
Result<std::string> bootstrapAdmin(Store& store, const std::string& password, HashCost cost,
                                   int64_t now_ms);

// "10.0.0.1" of "10.0.0.1:5555", "::1" of "[::1]:5555"; unchanged without a port.
std::string remoteIp(const std::string& remote);

}  // namespace vigil::manager::auth
