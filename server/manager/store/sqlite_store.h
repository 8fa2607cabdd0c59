// The SQLite backend of the store (all-in-one deployments): one file in WAL mode, one writer
// connection and a pool of reader connections, so lists and dashboards never wait for the bus
// consumer's inserts.
#pragma once

#include <memory>
#include <string>

#include "libs/common/result.h"
#include "server/manager/store/sql.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

// Opens (creating it and its directory when missing) the SQLite database at `path`.
// Connections: WAL journal, synchronous=FULL (a committed batch survives a power loss: the bus
// consumer acks it afterwards), foreign keys on, busy timeout from `options`.
Result<std::unique_ptr<sql::Database>> openSqliteDatabase(const std::string& path,
                                                          const StoreOptions& options);

}  // namespace vigil::manager
