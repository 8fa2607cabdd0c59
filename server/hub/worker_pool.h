// A fixed set of threads that run one call per slot, all slots at once, and return when every
// slot is done: the hub evaluates a fetch's records this way, one slot per group of partitions
// (an agent's records all go to one partition, so each slot owns its partitions' state and
// nothing is shared). Thread-safety: run() from one thread at a time.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vigil::hub {

class WorkerPool {
public:
    // `slots` >= 1: slot 0 runs on the caller of run(), the others on slots-1 threads.
    explicit WorkerPool(size_t slots);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    size_t slots() const { return threads_.size() + 1; }
    // Calls fn(slot) for every slot concurrently; returns when all calls have returned.
    void run(const std::function<void(size_t)>& fn);

private:
    void loop(size_t slot);

    std::vector<std::thread> threads_;
    std::mutex mu_;
    std::condition_variable start_cv_, done_cv_;
    const std::function<void(size_t)>* fn_ = nullptr;
    uint64_t generation_ = 0;
    size_t pending_ = 0;
    bool stopping_ = false;
};

}  // namespace vigil::hub
