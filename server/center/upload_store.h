// Files agents upload for task 1050 (FileExt.Upload): a token is issued when the task is sent
// through POST /command/; an upload must present an issued, unused, unexpired token; the file
// goes to <dir>/<agent_id>/<token>, bounded by a size cap, and its sha256 is recorded in
// <dir>/uploads.jsonl for the manager.
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "libs/common/crypto.h"
#include "libs/common/metrics.h"
#include "libs/common/result.h"

namespace vigil::center {

struct UploadRecord {
    std::string token;
    std::string agent_id;
    std::string requested_path;  // the path the task asked for
    std::string stored_path;
    uint64_t size = 0;
    std::string sha256;
    int64_t finished_at = 0;
};

class UploadStore {
public:
    UploadStore(std::string dir, uint64_t max_bytes, std::chrono::seconds token_ttl, metrics::Registry& metrics);

    // Records that task 1050 with `token` was sent to `agent_id`.
    void issue(const std::string& token, const std::string& agent_id, const std::string& requested_path);

    // One upload in progress: created by begin(), fed chunks, then finish() or abort().
    class Upload {
    public:
        ~Upload();
        Status write(std::string_view chunk);
        Result<UploadRecord> finish();
        void abort(const std::string& why);

    private:
        friend class UploadStore;
        UploadStore* store_ = nullptr;
        UploadRecord rec_;
        std::string tmp_path_;
        int fd_ = -1;
        uint64_t max_ = 0;
        crypto::Sha256 hash_;
        bool done_ = false;
    };
    // Starts an upload for a token that was issued and not used yet (the token is consumed).
    Result<std::unique_ptr<Upload>> begin(const std::string& token);

    const std::string& dir() const { return dir_; }

private:
    struct Issued {
        std::string agent_id;
        std::string path;
        std::chrono::steady_clock::time_point at;
    };
    Status record(const UploadRecord& rec);

    std::string dir_;
    uint64_t max_bytes_;
    std::chrono::seconds ttl_;
    std::mutex mu_;
    std::map<std::string, Issued> issued_;
    metrics::Counter* ok_;
    metrics::Counter* refused_;
    metrics::Counter* bytes_;
};

}  // namespace vigil::center
