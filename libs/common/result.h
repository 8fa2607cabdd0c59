// Result<T>: the expected-style return type used across module boundaries instead of exceptions.
// An Error carries a message a person can act on. Not thread-safe; a value type.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace vigil {

struct Error {
    std::string message;
};

// Builds an Error from a fmt format string: `return makeError("open {}: {}", path, strerror(e));`
template <typename... Args>
Error makeError(fmt::format_string<Args...> format, Args&&... args) {
    return Error{fmt::format(format, std::forward<Args>(args)...)};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(v_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(v_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(v_));
    }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    T valueOr(T fallback) const& { return ok() ? std::get<0>(v_) : std::move(fallback); }

    const Error& error() const {
        assert(!ok());
        return std::get<1>(v_);
    }
    const std::string& message() const { return error().message; }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const {
        assert(!ok_);
        return error_;
    }
    const std::string& message() const { return error_.message; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

inline Status okStatus() { return Status(); }

}  // namespace vigil

// Propagates an error from an expression returning Result<...>/Status.
#define VIGIL_TRY(expr)                                   \
    do {                                                  \
        auto vigil_try_result_ = (expr);                  \
        if (!vigil_try_result_.ok()) {                    \
            return vigil_try_result_.error();             \
        }                                                 \
    } while (0)
