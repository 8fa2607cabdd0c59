// Test helpers for the SDK's in-process tests: pipes that close themselves and a collector
// that reads frames from the read end of a record pipe on a thread.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libs/wire/frame.h"
#include "libs/wire/record.h"

namespace vigil::sdk::test {

struct Pipe {
    int read_fd = -1;
    int write_fd = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) {
            read_fd = fds[0];
            write_fd = fds[1];
        }
    }
    ~Pipe() {
        closeRead();
        closeWrite();
    }
    // Hands an end to someone who closes it (the Client owns its descriptors).
    int releaseRead() { return std::exchange(read_fd, -1); }
    int releaseWrite() { return std::exchange(write_fd, -1); }
    void closeRead() {
        if (read_fd >= 0) ::close(std::exchange(read_fd, -1));
    }
    void closeWrite() {
        if (write_fd >= 0) ::close(std::exchange(write_fd, -1));
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

struct DecodedRecord {
    int32_t data_type = 0;
    int64_t timestamp = 0;
    std::map<std::string, std::string> fields;
};

// Reads frames from `fd` (owned) until EOF or destruction.
class FrameCollector {
public:
    explicit FrameCollector(int fd) : fd_(fd), wake_(::eventfd(0, EFD_CLOEXEC)) {
        thread_ = std::thread([this] { run(); });
    }
    ~FrameCollector() {
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(wake_, &one, sizeof(one));
        thread_.join();
        ::close(fd_);
        ::close(wake_);
    }

    bool waitForFrames(size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return frames_.size() >= n; });
    }
    bool waitForEof(std::chrono::milliseconds timeout) {
        std::unique_lock<std::mutex> lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return eof_; });
    }
    std::vector<std::string> frames() {
        std::lock_guard<std::mutex> lock(mu_);
        return frames_;
    }
    size_t bytes() {
        std::lock_guard<std::mutex> lock(mu_);
        return bytes_;
    }
    // Every frame decoded with parseRecord; a frame that does not parse fails the caller's
    // expectations through `bad`.
    std::vector<DecodedRecord> records(size_t* bad = nullptr) {
        std::vector<DecodedRecord> out;
        std::string scratch;
        size_t errors = 0;
        for (const auto& f : frames()) {
            wire::RecordView v;
            DecodedRecord r;
            if (wire::parseRecord(f, v, scratch) != wire::RecordError::kNone ||
                !wire::decodePayload(v.payload, r.fields)) {
                ++errors;
                continue;
            }
            r.data_type = v.data_type;
            r.timestamp = v.timestamp;
            out.push_back(std::move(r));
        }
        if (bad) *bad = errors;
        return out;
    }

private:
    void run() {
        wire::FrameDecoder decoder;
        for (;;) {
            pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) continue;
            if (fds[1].revents) return;
            size_t cap;
            char* area = decoder.readArea(&cap);
            const ssize_t n = ::read(fd_, area, cap);
            if (n <= 0) {
                std::lock_guard<std::mutex> lock(mu_);
                eof_ = true;
                cv_.notify_all();
                return;
            }
            decoder.commit(static_cast<size_t>(n));
            std::lock_guard<std::mutex> lock(mu_);
            bytes_ += static_cast<size_t>(n);
            std::string_view f;
            while (decoder.next(f) == wire::FrameDecoder::Next::kFrame) frames_.emplace_back(f);
            cv_.notify_all();
        }
    }

    int fd_;
    int wake_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<std::string> frames_;
    size_t bytes_ = 0;
    bool eof_ = false;
    std::thread thread_;
};

}  // namespace vigil::sdk::test
