// A growable byte buffer without zero-fill on growth, for encoders on hot paths.
// Not thread-safe; moves but does not copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace vigil::wire {

class Buffer {
public:
    Buffer() = default;
    explicit Buffer(size_t capacity) { reserve(capacity); }
    ~Buffer() { std::free(data_); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
        o.data_ = nullptr;
        o.size_ = o.cap_ = 0;
    }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            std::free(data_);
            data_ = std::exchange(o.data_, nullptr);
            size_ = std::exchange(o.size_, 0);
            cap_ = std::exchange(o.cap_, 0);
        }
        return *this;
    }

    char* data() { return data_; }
    const char* data() const { return data_; }
    size_t size() const { return size_; }
    size_t capacity() const { return cap_; }
    bool empty() const { return size_ == 0; }
    std::string_view view() const { return {data_, size_}; }
    std::string toString() const { return std::string(data_, size_); }

    void clear() { size_ = 0; }
    void reserve(size_t cap) {
        if (cap <= cap_) return;
        size_t n = cap_ ? cap_ : 256;
        while (n < cap) n *= 2;
        void* p = std::realloc(data_, n);
        if (!p) throw std::bad_alloc();
        data_ = static_cast<char*>(p);
        cap_ = n;
    }
    // Makes room for `n` more bytes and returns where they go; call commit(n) after writing.
    char* ensure(size_t n) {
        if (size_ + n > cap_) reserve(size_ + n);
        return data_ + size_;
    }
    void commit(size_t n) { size_ += n; }
    void resize(size_t n) {
        reserve(n);
        size_ = n;
    }
    void append(const void* p, size_t n) {
        if (n == 0) return;  // memcpy with a null pointer is undefined even for 0 bytes
        std::memcpy(ensure(n), p, n);
        size_ += n;
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    void push(char c) {
        *ensure(1) = c;
        ++size_;
    }
    // Drops the first n bytes.
    void consume(size_t n) {
        if (n >= size_) {
            size_ = 0;
            return;
        }
        std::memmove(data_, data_ + n, size_ - n);
        size_ -= n;
    }
    // Gives back memory beyond `keep` bytes of capacity (idle agents stay small).
    void shrinkTo(size_t keep) {
        if (cap_ <= keep || size_ > keep) return;
        if (keep == 0) {
            std::free(data_);
            data_ = nullptr;
            cap_ = 0;
            return;
        }
        void* p = std::realloc(data_, keep);
        if (p) {
            data_ = static_cast<char*>(p);
            cap_ = keep;
        }
    }

private:
    char* data_ = nullptr;
    size_t size_ = 0;
    size_t cap_ = 0;
};

}  // namespace vigil::wire
