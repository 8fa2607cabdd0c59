// The login rate limit: failed logins counted per key (a username, a remote IP) in a sliding
// window; a key with too many recent failures is refused until the oldest one leaves the window.
// Thread-safe (one mutex; logins are rare and each costs an argon2id hash anyway).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace vigil::manager::auth {

class LoginRateLimiter {
public:
    // At most `max_failures` failures per key within `window_ms`; at most `max_keys` keys are
    // tracked (beyond it the expired ones are pruned, then the fullest map is cleared: an
    // attacker spraying keys only forgets its own failures sooner).
    LoginRateLimiter(size_t max_failures, int64_t window_ms, size_t max_keys = 100000);

    // 0 when `key` may try now; else the milliseconds until it may.
    int64_t blockedFor(const std::string& key, int64_t now_ms);
    void recordFailure(const std::string& key, int64_t now_ms);
    // blockedFor and recordFailure in one step: a try counts as a failure from its start, so
    // concurrent tries cannot pass the limit together. 0 when the try may go on; then either
    // keep it as a failure or undo it with forgetAttempt(key, now_ms).
    int64_t attempt(const std::string& key, int64_t now_ms);
    void forgetAttempt(const std::string& key, int64_t now_ms);
    // Forgets the failures of `key` (a successful login).
    void reset(const std::string& key);
    size_t trackedKeys() const;

private:
    void prune(std::deque<int64_t>& failures, int64_t now_ms) const;
    int64_t blockedForLocked(const std::string& key, int64_t now_ms);
    void recordFailureLocked(const std::string& key, int64_t now_ms);

    const size_t max_failures_;
    const int64_t window_ms_;
    const size_t max_keys_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, std::deque<int64_t>> failures_;
};

}  // namespace vigil::manager::auth
