// Database connections shared by threads: opened on demand up to a maximum, each handed to one
// caller at a time (the SQLite readers, the PostgreSQL pool). Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "libs/common/result.h"

namespace vigil::manager {

template <typename Connection>
class ConnectionPool {
public:
    using Opener = std::function<Result<std::unique_ptr<Connection>>()>;

    ConnectionPool(size_t max, Opener open) : max_(max ? max : 1), open_(std::move(open)) {}

    // An idle connection, else a new one while fewer than the maximum are open, else waits for
    // one to come back. An error when a new one cannot be opened.
    Result<std::unique_ptr<Connection>> checkout() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !idle_.empty() || opened_ < max_; });
        if (!idle_.empty()) {
            auto c = std::move(idle_.back());
            idle_.pop_back();
            return c;
        }
        ++opened_;
        lock.unlock();  // connecting can take a while
        auto c = open_();
        if (!c.ok()) {
            lock.lock();
            --opened_;
            cv_.notify_one();
        }
        return c;
    }

    // Returns a connection; one no longer usable (its server went away) is closed, and the next
    // checkout opens another.
    void checkin(std::unique_ptr<Connection> c, bool usable = true) {
        if (!usable) c.reset();
        std::lock_guard lock(mu_);
        if (c) {
            idle_.push_back(std::move(c));
        } else {
            --opened_;
        }
        cv_.notify_one();
    }

private:
    const size_t max_;
    const Opener open_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::unique_ptr<Connection>> idle_;
    size_t opened_ = 0;
};

}  // namespace vigil::manager
