// Test support for the PostgreSQL backend: a real server on loopback (the one in
// VIGIL_TEST_PG_URL, else one this process starts with initdb in a temporary directory), and a
// schema of its own per test so that tests sharing a server never see each other's rows.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "libs/common/result.h"

namespace vigil::manager::testing {

// A directory under /tmp, removed with everything in it when this goes.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A PostgreSQL cluster made by initdb (trust authentication, superuser `postgres`, fsync off)
// and its server on 127.0.0.1. As root both run as the `postgres` user. The server is this
// process's child and dies with it (a crashed test leaves no server behind).
class PgServer {
public:
    // The server every PostgreSQL test of this process uses: VIGIL_TEST_PG_URL when set, else
    // one started here (stopped at exit). An error says what is missing; callers FAIL with it.
    static Result<std::string> sharedUrl();
    static Result<std::unique_ptr<PgServer>> start();
    ~PgServer();
    const std::string& url() const { return url_; }
    void stop();  // fast shutdown (SIGINT), SIGKILL after 10 s

private:
    PgServer() = default;
    Status launch(int port);

    std::string bin_dir_;
    TempDir dir_;
    pid_t pid_ = -1;
    std::string url_;
};

// Where initdb and postgres are (/usr/lib/postgresql/<newest>/bin), or empty.
std::string findPgBinDir();

// A schema created in the database at `server_url`, dropped (with its tables) when this goes.
// url() is server_url selecting it as the search path: a store opened there lives in it.
class PgSchema {
public:
    static Result<std::unique_ptr<PgSchema>> create(const std::string& server_url);
    ~PgSchema();
    const std::string& url() const { return url_; }

private:
    PgSchema() = default;
    std::string server_url_;
    std::string name_;
    std::string url_;
};

}  // namespace vigil::manager::testing
