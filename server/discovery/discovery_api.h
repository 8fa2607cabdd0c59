// DiscoveryApi: the HTTP handlers of vigil-discovery (Elkeid paths): POST /registry/register,
// /registry/evict, /registry/sync (signed), GET /registry/detail, /registry/list (open). They
// work on a Registry and hand local changes to a ChangeSink (the Replicator), so tests and
// fuzzers drive them in process through an ApiRouter without sockets.
// Thread-safety: handlers run concurrently; the Registry and the sink must be thread-safe.
#pragma once

#include <string>
#include <vector>

#include "libs/common/metrics.h"
#include "server/common/api_router.h"
#include "server/discovery/registry.h"

namespace vigil::discovery {

// Where changes made by this replica go (to every peer); received syncs are never passed on.
class ChangeSink {
public:
    virtual ~ChangeSink() = default;
    virtual void publish(const std::vector<Change>& changes) = 0;
    // A peer asked for this replica's full state (it started late or restarted); `source` is
    // the address it gave.
    virtual void snapshotRequested(const std::string& source) = 0;
};

// A sink that drops everything (a replica without peers, fuzzing).
class NullChangeSink : public ChangeSink {
public:
    void publish(const std::vector<Change>&) override {}
    void snapshotRequested(const std::string&) override {}
};

struct DiscoveryApiOptions {
    std::string node_id;           // this replica's random id: a sync carrying it is from ourselves
    size_t max_sync_items = 1000;  // changes per /registry/sync request
};

class DiscoveryApi {
public:
    DiscoveryApi(Registry& registry, ChangeSink& sink, metrics::Registry& metrics,
                 DiscoveryApiOptions options);

    // Adds the routes (register, evict and sync signed; detail and list open).
    void install(server::ApiRouter& router);

    // {"name","ip","port","weight","extra":{}} -> the instance as detail shows it.
    server::ApiReply registerInstance(const server::ApiRequest& request);
    // {"name","ip","port"} -> {"evicted": true|false}.
    server::ApiReply evict(const server::ApiRequest& request);
    // {"source","node","request_snapshot","data":[{"action","registry":{...,"age_ms"}}]}
    //   -> {"applied": n, "ignored": m} (or {"self": true} for a sync from this very replica).
    server::ApiReply sync(const server::ApiRequest& request);
    // ?name=&count= -> [{"name","ip","port","weight","status","create_at","update_at","extra"}]
    server::ApiReply detail(const server::ApiRequest& request) const;
    // -> [{"name","count","healthy"}]
    server::ApiReply list(const server::ApiRequest& request) const;

private:
    Registry& registry_;
    ChangeSink& sink_;
    metrics::Registry& metrics_;
    DiscoveryApiOptions options_;
    metrics::Counter& registrations_;
    metrics::Counter& evictions_;
    metrics::Counter& sync_applied_;
    metrics::Counter& sync_ignored_;
    metrics::Counter& refused_full_;
};

}  // namespace vigil::discovery
