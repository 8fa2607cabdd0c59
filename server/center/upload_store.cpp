// Upload tokens and files.
#include "server/center/upload_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <nlohmann/json.hpp>

#include "libs/common/fs.h"
#include "libs/common/log.h"

namespace vigil::center {

UploadStore::UploadStore(std::string dir, uint64_t max_bytes, std::chrono::seconds token_ttl,
                         metrics::Registry& metrics)
    : dir_(std::move(dir)), max_bytes_(max_bytes), ttl_(token_ttl) {
    ok_ = &metrics.counter("vigil_center_uploads_total", "Files uploaded by agents (task 1050)");
    refused_ = &metrics.counter("vigil_center_uploads_refused_total",
                                "Uploads refused: unknown or reused token, over the size cap, write error");
    bytes_ = &metrics.counter("vigil_center_upload_bytes_total", "Bytes of uploaded files");
}

void UploadStore::issue(const std::string& token, const std::string& agent_id, const std::string& path) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    for (auto it = issued_.begin(); it != issued_.end();) {
        it = now - it->second.at > ttl_ ? issued_.erase(it) : std::next(it);
    }
    issued_[token] = Issued{agent_id, path, now};
}

static bool safeComponent(const std::string& s) {
    if (s.empty() || s.size() > 200 || s == "." || s == "..") return false;
    for (char c : s) {
        if (c == '/' || c == '\0') return false;
    }
    return true;
}

Result<std::unique_ptr<UploadStore::Upload>> UploadStore::begin(const std::string& token) {
    Issued issued;
    {
        std::lock_guard lock(mu_);
        auto it = issued_.find(token);
        if (it == issued_.end() || std::chrono::steady_clock::now() - it->second.at > ttl_) {
            if (it != issued_.end()) issued_.erase(it);
            refused_->inc();
            return makeError("upload token '{}' was not issued by this center (or expired)", token);
        }
        issued = it->second;
        issued_.erase(it);  // one upload per token
    }
    if (!safeComponent(token) || !safeComponent(issued.agent_id)) {
        refused_->inc();
        return makeError("upload token or agent id is not usable as a file name");
    }
    const std::string agent_dir = fs::joinPath(dir_, issued.agent_id);
    VIGIL_TRY(fs::makeDirs(agent_dir, 0700));
    auto up = std::unique_ptr<Upload>(new Upload());
    up->store_ = this;
    up->max_ = max_bytes_;
    up->rec_.token = token;
    up->rec_.agent_id = issued.agent_id;
    up->rec_.requested_path = issued.path;
    up->rec_.stored_path = fs::joinPath(agent_dir, token);
    up->tmp_path_ = up->rec_.stored_path + ".part";
    up->fd_ = ::open(up->tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (up->fd_ < 0) {
        refused_->inc();
        return makeError("cannot create {}: {}", up->tmp_path_, std::strerror(errno));
    }
    return up;
}

UploadStore::Upload::~Upload() {
    if (!done_) abort("abandoned");
}

Status UploadStore::Upload::write(std::string_view chunk) {
    if (done_) return makeError("upload already finished");
    if (rec_.size + chunk.size() > max_) {
        abort("over the size cap");
        return makeError("upload {} is larger than the {}-byte cap", rec_.token, max_);
    }
    size_t off = 0;
    while (off < chunk.size()) {
        ssize_t n = ::write(fd_, chunk.data() + off, chunk.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::string e = std::strerror(errno);
            abort("write error");
            return makeError("cannot write upload {}: {}", rec_.token, e);
        }
        off += static_cast<size_t>(n);
    }
    hash_.update(chunk);
    rec_.size += chunk.size();
    return okStatus();
}

Result<UploadRecord> UploadStore::Upload::finish() {
    if (done_) return makeError("upload already finished");
    done_ = true;
    if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
        fd_ = -1;
        ::unlink(tmp_path_.c_str());
        store_->refused_->inc();
        return makeError("cannot store upload {}: {}", rec_.token, std::strerror(errno));
    }
    fd_ = -1;
    if (::rename(tmp_path_.c_str(), rec_.stored_path.c_str()) != 0) {
        ::unlink(tmp_path_.c_str());
        store_->refused_->inc();
        return makeError("cannot store upload {}: {}", rec_.token, std::strerror(errno));
    }
    rec_.sha256 = hash_.finalHex();
    rec_.finished_at = static_cast<int64_t>(std::time(nullptr));
    VIGIL_TRY(store_->record(rec_));
    store_->ok_->inc();
    store_->bytes_->inc(rec_.size);
    return rec_;
}

void UploadStore::Upload::abort(const std::string& why) {
    if (done_) return;
    done_ = true;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    ::unlink(tmp_path_.c_str());
    store_->refused_->inc();
    vigil::log::get("center")->warn("upload {} from {} dropped: {}", rec_.token, rec_.agent_id, why);
}

Status UploadStore::record(const UploadRecord& rec) {
    nlohmann::json j{{"token", rec.token},   {"agent_id", rec.agent_id}, {"requested_path", rec.requested_path},
                     {"stored_path", rec.stored_path}, {"size", rec.size}, {"sha256", rec.sha256},
                     {"finished_at", rec.finished_at}};
    std::string line = j.dump() + "\n";
    std::lock_guard lock(mu_);
    const std::string path = fs::joinPath(dir_, "uploads.jsonl");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return makeError("cannot open {}: {}", path, std::strerror(errno));
    ssize_t n = ::write(fd, line.data(), line.size());
    ::fsync(fd);
    ::close(fd);
    if (n != static_cast<ssize_t>(line.size())) return makeError("cannot append to {}", path);
    return okStatus();
}

}  // namespace vigil::center
