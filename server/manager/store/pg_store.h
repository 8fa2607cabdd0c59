// The PostgreSQL backend of the store (distributed deployments), over libpqxx 6.4: a small pool
// of connections, each call one transaction on one of them.
#pragma once

#include <memory>
#include <string>

#include "libs/common/result.h"
#include "server/manager/store/sql.h"
#include "server/manager/store/store.h"

namespace vigil::manager {

// Connects to the PostgreSQL database at `url` (a libpq URI). Connections are opened on demand,
// at most options.connections; one found broken is dropped and replaced on the next call.
Result<std::unique_ptr<sql::Database>> openPgDatabase(const std::string& url,
                                                      const StoreOptions& options);

}  // namespace vigil::manager
