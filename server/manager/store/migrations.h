// Versioned schema migrations of the store: an ordered list of (version, description, SQL per
// dialect), applied at open, each in its own transaction, recorded in `schema_migrations`.
#pragma once

#include <string>
#include <vector>

#include "libs/common/result.h"
#include "server/manager/store/sql.h"

namespace vigil::manager {

struct Migration {
    int version = 0;  // 1, 2, 3, ... in order, never reused or edited once released
    std::string description;
    std::string sqlite;  // statements separated by ';'
    std::string postgres;
};

// The migrations this binary knows, oldest first.
const std::vector<Migration>& storeMigrations();
int latestSchemaVersion();

// The version recorded in `db` (0 for an empty database).
Result<int> schemaVersion(sql::Database& db);

// Applies the migrations of `list` that `db` lacks, in order, each with its version row in one
// transaction (a failure leaves the database at the previous version). Safe when several
// processes start together: PostgreSQL serialises them with an advisory lock, SQLite with its
// write lock. Fails, changing nothing, when the database is at a version newer than the last
// of `list` (a newer vigil-manager wrote it).
Status migrate(sql::Database& db, const std::vector<Migration>& list = storeMigrations());

}  // namespace vigil::manager
