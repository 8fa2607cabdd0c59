// WorkerPool: slots run together, generation by generation.
#include "server/hub/worker_pool.h"

namespace vigil::hub {

WorkerPool::WorkerPool(size_t slots) {
    for (size_t i = 1; i < slots; ++i) threads_.emplace_back([this, i] { loop(i); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void WorkerPool::run(const std::function<void(size_t)>& fn) {
    if (threads_.empty()) {
        fn(0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = &fn;
        pending_ = threads_.size();
        ++generation_;
    }
    start_cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
}

void WorkerPool::loop(size_t slot) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(size_t)>* fn = nullptr;
        {
            std::unique_lock<std::mutex> lock(mu_);
            start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            fn = fn_;
        }
        (*fn)(slot);
        {
            std::lock_guard<std::mutex> lock(mu_);
            if (--pending_ == 0) done_cv_.notify_one();
        }
    }
}

}  // namespace vigil::hub
