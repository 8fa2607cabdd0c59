// Password hashing (argon2id, libsodium) and session tokens for vigil-manager users: the store
// keeps only the encoded hash of a password and the SHA-256 of a session token.
// Stateless functions; thread-safe (libsodium is initialised once, on first use).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libs/common/result.h"

namespace vigil::manager::auth {

// Cost of argon2id (libsodium's named limits). Interactive: 2 passes over 64 MiB, ~0.1 s per
// hash; moderate: 3 passes over 256 MiB, ~0.5 s. kMinimum exists for tests only.
enum class HashCost { kInteractive, kModerate, kMinimum };

// The longest password accepted (argon2 hashes any length; the bound keeps requests cheap).
inline constexpr size_t kMaxPasswordBytes = 1024;

// An argon2id encoded string ("$argon2id$v=19$m=...,t=...,p=1$salt$hash").
Result<std::string> hashPassword(std::string_view password, HashCost cost);
// True when `password` matches `encoded`; false for a mismatch or a malformed hash.
bool verifyPassword(std::string_view password, const std::string& encoded);

// A new session token: 32 random bytes, base64url without padding (43 characters).
std::string newSessionToken();
// What the store keeps of a token: its SHA-256, hex.
std::string tokenHash(std::string_view token);
// A random password for the first-run admin: 18 random bytes, base64url (24 characters).
std::string randomPassword();

}  // namespace vigil::manager::auth
