// Sliding-window count of failed logins per key.
#include "server/manager/auth/rate_limiter.h"

#include <algorithm>

namespace vigil::manager::auth {

LoginRateLimiter::LoginRateLimiter(size_t max_failures, int64_t window_ms, size_t max_keys)
    : max_failures_(std::max<size_t>(1, max_failures)),
      window_ms_(window_ms),
      max_keys_(std::max<size_t>(1, max_keys)) {}

void LoginRateLimiter::prune(std::deque<int64_t>& failures, int64_t now_ms) const {
    while (!failures.empty() && failures.front() <= now_ms - window_ms_) failures.pop_front();
}

int64_t LoginRateLimiter::blockedFor(const std::string& key, int64_t now_ms) {
    std::lock_guard lock(mu_);
    return blockedForLocked(key, now_ms);
}

void LoginRateLimiter::recordFailure(const std::string& key, int64_t now_ms) {
    std::lock_guard lock(mu_);
    recordFailureLocked(key, now_ms);
}

int64_t LoginRateLimiter::attempt(const std::string& key, int64_t now_ms) {
    std::lock_guard lock(mu_);
    if (int64_t wait = blockedForLocked(key, now_ms); wait > 0) return wait;
    recordFailureLocked(key, now_ms);
    return 0;
}

void LoginRateLimiter::forgetAttempt(const std::string& key, int64_t now_ms) {
    std::lock_guard lock(mu_);
    auto it = failures_.find(key);
    if (it == failures_.end()) return;
    auto& f = it->second;
    for (auto i = f.rbegin(); i != f.rend(); ++i) {
        if (*i == now_ms) {
            f.erase(std::next(i).base());
            break;
        }
    }
    if (f.empty()) failures_.erase(it);
}

int64_t LoginRateLimiter::blockedForLocked(const std::string& key, int64_t now_ms) {
    auto it = failures_.find(key);
    if (it == failures_.end()) return 0;
    prune(it->second, now_ms);
    if (it->second.size() < max_failures_) {
        if (it->second.empty()) failures_.erase(it);
        return 0;
    }
    // Allowed again when enough failures have left the window for one more try.
    int64_t until = it->second[it->second.size() - max_failures_] + window_ms_;
    return std::max<int64_t>(1, until - now_ms);
}

void LoginRateLimiter::recordFailureLocked(const std::string& key, int64_t now_ms) {
    if (failures_.size() >= max_keys_ && failures_.count(key) == 0) {
        for (auto it = failures_.begin(); it != failures_.end();) {
            prune(it->second, now_ms);
            it = it->second.empty() ? failures_.erase(it) : std::next(it);
        }
        if (failures_.size() >= max_keys_) failures_.clear();
    }
    auto& f = failures_[key];
    prune(f, now_ms);
    f.push_back(now_ms);
    // Only the newest max_failures_ matter for the answer.
    while (f.size() > max_failures_) f.pop_front();
}

void LoginRateLimiter::reset(const std::string& key) {
    std::lock_guard lock(mu_);
    failures_.erase(key);
}

size_t LoginRateLimiter::trackedKeys() const {
    std::lock_guard lock(mu_);
    return failures_.size();
}

}  // namespace vigil::manager::auth
