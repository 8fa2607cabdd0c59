// One agent call on the TransferServer (internal): a state machine driven by completion-queue
// events (request, read, write, finish) and by bus completions. Transfer calls batch → bus →
// ack; Upload calls stream a file into the UploadStore.
// Thread-safety: CQ events for a call arrive on one queue thread; bus callbacks and admin
// commands come from other threads; all state is guarded by mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include "libs/common/metrics.h"
#include "server/bus/bus.h"
#include "server/center/connection_registry.h"
#include "server/center/transfer_server.h"
#include "server/center/upload_store.h"

namespace vigil::center {

// What every call of one server shares (owned by the server, outlives its calls).
struct CallShared {
    grpc::AsyncGenericService* service = nullptr;
    bus::Producer* producer = nullptr;
    ConnectionRegistry* registry = nullptr;
    UploadStore* uploads = nullptr;
    TransferHooks hooks;
    TransferServerOptions options;
    std::atomic<bool> draining{false};
    std::atomic<size_t> live_calls{0};
    // No operation may start on a completion queue after its Shutdown(): every start holds
    // `gate` shared and checks `queues_closed`; shutdown sets it holding `gate` exclusively.
    std::shared_mutex gate;
    bool queues_closed = false;

    struct Counters {
        metrics::Counter* batches;
        metrics::Counter* records;
        metrics::Counter* records_dropped;
        metrics::Counter* bytes;
        metrics::Counter* acks;
        metrics::Counter* commands;
        metrics::Counter* streams_opened;
        metrics::Counter* streams_closed;
        metrics::Registry* registry;
        metrics::Counter& error(const std::string& cause);
    } counters{};

    // Live calls, for drain(): registered on accept, removed when finished.
    std::mutex calls_mu;
    std::vector<std::weak_ptr<class Call>> calls;
    void track(const std::shared_ptr<Call>& call);
    std::vector<std::shared_ptr<Call>> liveCalls();
};

class Call : public AgentConnection, public std::enable_shared_from_this<Call> {
public:
    enum class Op : uint8_t { kRequest, kRead, kWrite, kFinish };
    struct Tag {
        Call* call;
        Op op;
    };

    Call(CallShared& shared, grpc::ServerCompletionQueue* cq);
    // Requests the next incoming call on `cq`; the call keeps itself alive until it is done.
    static void requestNew(CallShared& shared, grpc::ServerCompletionQueue* cq);
    // Handles one completion-queue event.
    void proceed(Op op, bool ok);
    // drain(): no more reads; finish with UNAVAILABLE once everything received is acknowledged.
    void beginDrain();

    bool sendCommand(const wire::AgentCommand& command) override;
    void reset(const std::string& reason) override;
    Info info() const override;

private:
    enum class Kind : uint8_t { kPending, kTransfer, kUpload, kRejected };
    struct PendingBatch {
        uint64_t seq;
        bool appended;
    };

    void onRequest(bool ok);
    void onRead(bool ok);
    void onWrite(bool ok);
    void onFinish();
    void handleBatch(std::unique_lock<std::mutex>& lock);
    void handleUploadChunk(std::unique_lock<std::mutex>& lock);
    void onAppended(uint64_t seq, const Status& st);

    // All with mu_ held.
    // Starts a CQ operation via `start` unless the queues are closing (then the call is over).
    template <typename Fn>
    bool startOp(Fn&& start);
    void startRead();
    void pumpWrites();
    void requestFinish(grpc::Status status);
    void maybeFinish();
    void finishUpload(bool ok, const std::string& why);
    void releaseIfDone(std::unique_lock<std::mutex>& lock);

    CallShared& shared_;
    grpc::ServerCompletionQueue* cq_;
    grpc::GenericServerContext ctx_;
    grpc::GenericServerAsyncReaderWriter stream_;
    grpc::ByteBuffer read_buf_;
    Tag request_tag_{this, Op::kRequest}, read_tag_{this, Op::kRead}, write_tag_{this, Op::kWrite},
        finish_tag_{this, Op::kFinish};

    mutable std::mutex mu_;
    std::shared_ptr<Call> self_;  // keeps the call alive while the completion queue holds tags
    Kind kind_ = Kind::kPending;
    int ops_ = 0;                 // completion-queue operations in flight
    bool admitted_ = false;       // holds a registry slot
    bool bound_ = false;          // agent_id bound in the registry
    bool read_pending_ = false;
    bool read_closed_ = false;
    bool reads_paused_ = false;
    bool draining_ = false;
    bool writing_ = false;
    bool finish_requested_ = false;
    bool finish_started_ = false;
    bool finished_ = false;
    bool config_pushed_ = false;
    grpc::Status finish_status_;
    std::deque<PendingBatch> pending_;
    std::deque<std::string> commands_;
    uint64_t ack_to_send_ = 0;
    uint64_t ack_sent_ = 0;
    bool has_ack_ = false;
    std::string write_bytes_;
    Info info_;
    std::unique_ptr<UploadStore::Upload> upload_;
    std::string upload_token_;
    bool upload_done_ = false;
    bool upload_closing_ = false;  // the response is queued; finish once it is written
};

}  // namespace vigil::center
