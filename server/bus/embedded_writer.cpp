// Embedded bus writer: writer lock, recovery (torn-tail truncation), group commit, segment
// rolling and retention. The file formats are in log_format.h.
#include "server/bus/embedded_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libs/common/fs.h"
#include "libs/common/log.h"
#include "server/bus/log_format.h"

namespace vigil::bus {
namespace {

// A batch this large is written at once instead of waiting for the rest of the window.
constexpr uint64_t kLargeBatchBytes = 4ull << 20;

Status pwriteAll(int fd, const char* data, size_t n, uint64_t at, const std::string& what) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = ::pwrite(fd, data + done, n - done, static_cast<off_t>(at + done));
        if (w < 0) {
            if (errno == EINTR) continue;
            return makeError("write {}: {}", what, strerror(errno));
        }
        done += static_cast<size_t>(w);
    }
    return okStatus();
}

Status syncDir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return makeError("open {}: {}", dir, strerror(errno));
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return makeError("fsync {}: {}", dir, strerror(e));
    return okStatus();
}

std::chrono::system_clock::time_point mtimeOf(const struct stat& st) {
    using namespace std::chrono;
    return system_clock::time_point(duration_cast<system_clock::duration>(
        seconds(st.st_mtim.tv_sec) + nanoseconds(st.st_mtim.tv_nsec)));
}

int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

void EmbeddedWriter::reserveSpace(int fd) {
    // Blocks allocated ahead (the file size stays the data size): an fdatasync then has no
    // allocation to journal, ~2x faster per batch here. Best effort; some file systems cannot.
    if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(options_.segment_bytes)) != 0 &&
        errno != EOPNOTSUPP) {
        VIGIL_LOG_RATE_LIMITED(log::get("bus"), spdlog::level::warn,
                               "bus: cannot reserve {} bytes for a segment in {}: {}",
                               options_.segment_bytes, options_.dir, strerror(errno));
    }
}

SyncWorkers::SyncWorkers(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

SyncWorkers::~SyncWorkers() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void SyncWorkers::run(size_t n, const std::function<void(size_t)>& fn) {
    std::unique_lock lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    finished_ = 0;
    ++generation_;
    work_cv_.notify_all();
    work(lock);  // the caller takes a share too
    done_cv_.wait(lock, [&] { return finished_ == n_; });
    fn_ = nullptr;
}

void SyncWorkers::work(std::unique_lock<std::mutex>& lock) {
    while (fn_ && next_ < n_) {
        const size_t i = next_++;
        const auto* fn = fn_;
        lock.unlock();
        (*fn)(i);
        lock.lock();
        if (++finished_ == n_) done_cv_.notify_all();
    }
}

void SyncWorkers::loop() {
    std::unique_lock lock(mu_);
    uint64_t seen = 0;
    for (;;) {
        work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        work(lock);
    }
}

void ReadOnlyProducer::appendAsync(std::span<const Message>, AppendCallback done) {
    // No bus thread in a read-only process: the error is reported on the caller's thread.
    done(makeError("bus {} is open read-only in this process (BusOptions::writer = false)", dir_));
}

EmbeddedWriter::EmbeddedWriter(const BusOptions& options, uint32_t partitions,
                               BusMetrics& metrics)
    : options_(options), partitions_(partitions), metrics_(metrics), logs_(partitions) {
    for (Batch* b : {&filling_, &writing_}) {
        b->data.resize(partitions);
        b->entries.assign(partitions, 0);
    }
}

Result<std::unique_ptr<EmbeddedWriter>> EmbeddedWriter::open(const BusOptions& options,
                                                             uint32_t partitions,
                                                             BusMetrics& metrics) {
    std::unique_ptr<EmbeddedWriter> w(new EmbeddedWriter(options, partitions, metrics));
    const std::string lock_path = fs::joinPath(options.dir, "writer.lock");
    w->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd_ < 0) return makeError("open {}: {}", lock_path, strerror(errno));
    if (::flock(w->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) return makeError("lock {}: {}", lock_path, strerror(e));
        auto holder = fs::readFile(lock_path, 64);
        std::string pid = holder.ok() ? std::string(holder->substr(0, holder->find('\n'))) : "?";
        return makeError(
            "bus {} is already open for writing by pid {} (one writer process per bus directory)",
            options.dir, pid.empty() ? "?" : pid);
    }
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(w->lock_fd_, 0) != 0 ||
        !pwriteAll(w->lock_fd_, pid.data(), pid.size(), 0, lock_path).ok()) {
        return makeError("write {}: {}", lock_path, strerror(errno));
    }
    const std::string heads_path = fs::joinPath(options.dir, "heads");
    w->heads_fd_ = ::open(heads_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->heads_fd_ < 0) return makeError("open {}: {}", heads_path, strerror(errno));
    VIGIL_TRY(w->recover());
    VIGIL_TRY(syncDir(options.dir));  // the partition directories, when just made
    w->publishHeads();
    w->last_retention_ = Clock::now();
    w->applyRetention();
    w->workers_ = std::make_unique<SyncWorkers>(std::min<uint32_t>(partitions, 8) - 1);
    w->thread_ = std::thread([raw = w.get()] { raw->run(); });
    return w;
}

EmbeddedWriter::~EmbeddedWriter() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    writer_cv_.notify_all();
    space_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    for (auto& log : logs_) {
        if (log.fd >= 0) ::close(log.fd);
    }
    if (heads_fd_ >= 0) ::close(heads_fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status EmbeddedWriter::recover() {
    for (uint32_t p = 0; p < partitions_; ++p) VIGIL_TRY(recoverPartition(p));
    return okStatus();
}

Status EmbeddedWriter::recoverPartition(uint32_t p) {
    PartitionLog& log = logs_[p];
    log.dir = fs::joinPath(options_.dir, logfmt::partitionDirName(p));
    VIGIL_TRY(fs::makeDirs(log.dir));
    std::vector<uint64_t> bases = logfmt::listSegments(log.dir);
    if (bases.empty()) {
        std::string path = fs::joinPath(log.dir, logfmt::segmentName(0));
        log.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (log.fd < 0) return makeError("create {}: {}", path, strerror(errno));
        reserveSpace(log.fd);
        VIGIL_TRY(syncDir(log.dir));
        log.segments.push_back({0, 0, std::chrono::system_clock::now()});
        log.next_offset = 0;
        return okStatus();
    }
    for (size_t i = 0; i + 1 < bases.size(); ++i) {
        std::string path = fs::joinPath(log.dir, logfmt::segmentName(bases[i]));
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return makeError("stat {}: {}", path, strerror(errno));
        log.segments.push_back({bases[i], static_cast<uint64_t>(st.st_size), mtimeOf(st)});
    }
    const uint64_t base = bases.back();
    std::string path = fs::joinPath(log.dir, logfmt::segmentName(base));
    log.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (log.fd < 0) return makeError("open {}: {}", path, strerror(errno));
    auto scan = logfmt::scanSegment(log.fd);
    if (!scan.ok()) return makeError("{}: {}", path, scan.message());
    if (scan->valid_bytes < scan->file_bytes) {
        uint64_t cut = scan->file_bytes - scan->valid_bytes;
        if (::ftruncate(log.fd, static_cast<off_t>(scan->valid_bytes)) != 0 ||
            ::fdatasync(log.fd) != 0) {
            return makeError("truncate {}: {}", path, strerror(errno));
        }
        metrics_.truncated_bytes.inc(cut);
        log::get("bus")->warn("bus: {}: truncated a torn tail of {} bytes after {} entries", path,
                              cut, scan->entries);
    }
    struct stat st {};
    ::fstat(log.fd, &st);
    reserveSpace(log.fd);
    log.segments.push_back({base, scan->valid_bytes, mtimeOf(st)});
    log.next_offset = base + scan->entries;
    return okStatus();
}

void EmbeddedWriter::appendAsync(std::span<const Message> messages, AppendCallback done) {
    Pending pending{std::move(done), Clock::now(), messages.size(), 0, {}};
    // Headers (with their checksums) are built here, on the caller's thread, outside the lock.
    thread_local std::vector<logfmt::EntryHeader> headers;
    thread_local std::vector<uint32_t> parts;
    headers.resize(messages.size());
    parts.resize(messages.size());
    const int64_t now = nowNs();
    for (size_t i = 0; i < messages.size() && pending.error.message.empty(); ++i) {
        const Message& m = messages[i];
        if (m.key.size() > kMaxKeyBytes || m.value.size() > kMaxValueBytes) {
            pending.error = makeError("bus: message {} too large (key {} bytes, value {} bytes; "
                                      "limits {} and {})",
                                      i, m.key.size(), m.value.size(), kMaxKeyBytes, kMaxValueBytes);
            metrics_.error("invalid").inc();
            break;
        }
        parts[i] = partitionOf(m.key, partitions_);
        logfmt::encodeEntryHeader(headers[i], now, m.data_type, m.key, m.value);
        pending.bytes += m.key.size() + m.value.size();
    }

    std::unique_lock lock(mu_);
    if (!CallbackScope::active()) {
        space_cv_.wait(lock, [&] {
            return stopping_ || filling_.bytes < options_.max_pending_bytes;
        });
    }
    if (stopping_) {
        lock.unlock();
        metrics_.failed_appends.inc();
        pending.done(makeError("bus {} is closing", options_.dir));
        return;
    }
    if (pending.error.message.empty()) {
        for (size_t i = 0; i < messages.size(); ++i) {
            const Message& m = messages[i];
            const uint32_t p = parts[i];
            wire::Buffer& buf = filling_.data[p];
            const size_t size = logfmt::entrySize(m.key.size(), m.value.size());
            char* w = buf.ensure(size);
            std::memcpy(w, headers[i].bytes, logfmt::kEntryHeaderBytes);
            std::memcpy(w + logfmt::kEntryHeaderBytes, m.key.data(), m.key.size());
            std::memcpy(w + logfmt::kEntryHeaderBytes + m.key.size(), m.value.data(),
                        m.value.size());
            buf.commit(size);
            if (filling_.entries[p]++ == 0) filling_.touched.push_back(p);
            filling_.bytes += size;
        }
    }
    const bool first = filling_.pending.empty();
    if (first) filling_.first = pending.start;
    filling_.pending.push_back(std::move(pending));
    ++accepted_;
    if (first || filling_.bytes >= kLargeBatchBytes) writer_cv_.notify_one();
}

void EmbeddedWriter::flush() {
    std::unique_lock lock(mu_);
    const uint64_t target = accepted_;
    if (completed_ >= target) return;
    flush_requested_ = true;
    writer_cv_.notify_one();
    flushed_cv_.wait(lock, [&] { return completed_ >= target; });
}

void EmbeddedWriter::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        if (filling_.pending.empty()) {
            flush_requested_ = false;
            if (stopping_) break;
            writer_cv_.wait_for(lock, std::chrono::seconds(1));
            if (filling_.pending.empty()) {
                lock.unlock();
                applyRetention();
                lock.lock();
            }
            continue;
        }
        const auto deadline = filling_.first + options_.fsync_interval;
        if (!stopping_ && !flush_requested_ && filling_.bytes < kLargeBatchBytes &&
            Clock::now() < deadline) {
            writer_cv_.wait_until(lock, deadline);
            continue;
        }
        std::swap(filling_, writing_);
        metrics_.pending_bytes.set(static_cast<double>(writing_.bytes));
        space_cv_.notify_all();
        lock.unlock();

        Status st = writing_.bytes > 0 ? writeBatch(writing_) : okStatus();
        complete(writing_, st);
        const size_t n = writing_.pending.size();
        for (uint32_t p : writing_.touched) {
            writing_.entries[p] = 0;
            // Keep the buffers for the next batch unless one grew far beyond what it needs.
            if (writing_.data[p].capacity() > (64u << 20)) writing_.data[p] = wire::Buffer();
            writing_.data[p].clear();
        }
        writing_.touched.clear();
        writing_.pending.clear();
        writing_.bytes = 0;
        if (rolled_ || Clock::now() - last_retention_ >= std::chrono::seconds(1)) {
            applyRetention();
        }

        lock.lock();
        completed_ += n;
        flushed_cv_.notify_all();
    }
}

Status EmbeddedWriter::writeBatch(Batch& batch) {
    const auto now = std::chrono::system_clock::now();
    const size_t n = batch.touched.size();
    // A member, not thread_local: the workers must see this thread's vector.
    std::vector<Status>& results = results_;
    results.assign(n, okStatus());
    for (size_t i = 0; i < n; ++i) {
        PartitionLog& log = logs_[batch.touched[i]];
        if (log.segments.back().bytes >= options_.segment_bytes) {
            results[i] = rollSegment(log);
            if (!results[i].ok()) metrics_.error("write").inc();
        }
    }
    // Each partition's bytes go out with one pwrite and one fdatasync, all partitions at once:
    // the file system commits concurrent syncs together, sequential ones cost a journal commit
    // each (8 partitions: ~4 ms instead of ~27 ms per batch here).
    workers_->run(n, [&](size_t i) {
        if (!results[i].ok()) return;
        PartitionLog& log = logs_[batch.touched[i]];
        const Segment& seg = log.segments.back();
        const wire::Buffer& buf = batch.data[batch.touched[i]];
        Status st = pwriteAll(log.fd, buf.data(), buf.size(), seg.bytes,
                              fs::joinPath(log.dir, logfmt::segmentName(seg.base)));
        if (st.ok()) {
            metrics_.fsyncs.inc();
            if (::fdatasync(log.fd) != 0) {
                metrics_.error("fsync").inc();
                st = makeError("fdatasync {}: {}", log.dir, strerror(errno));
            }
        } else {
            metrics_.error("write").inc();
        }
        // After a failed write or fsync the page cache cannot be trusted: drop the batch's bytes.
        if (!st.ok() && ::ftruncate(log.fd, static_cast<off_t>(seg.bytes)) != 0) {
            log::get("bus")->error("bus: cannot cut a failed write from {}: {}", log.dir,
                                   strerror(errno));
        }
        results[i] = std::move(st);
    });
    Status result;
    for (size_t i = 0; i < n; ++i) {
        if (!results[i].ok()) {
            result = results[i];
            continue;
        }
        const uint32_t p = batch.touched[i];
        PartitionLog& log = logs_[p];
        Segment& seg = log.segments.back();
        seg.bytes += batch.data[p].size();
        seg.last_write = now;
        log.next_offset += batch.entries[p];
    }
    publishHeads();
    if (!result.ok()) {
        VIGIL_LOG_RATE_LIMITED(log::get("bus"), spdlog::level::err, "bus: append failed: {}",
                               result.message());
    }
    return result;
}

Status EmbeddedWriter::rollSegment(PartitionLog& log) {
    const uint64_t base = log.next_offset;
    std::string path = fs::joinPath(log.dir, logfmt::segmentName(base));
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return makeError("create {}: {}", path, strerror(errno));
    reserveSpace(fd);
    Status ds = syncDir(log.dir);  // the new name must survive a power loss with its data
    if (!ds.ok()) {
        ::close(fd);
        ::unlink(path.c_str());
        return ds;
    }
    // Give back the part of the old segment's reservation it did not use.
    if (::ftruncate(log.fd, static_cast<off_t>(log.segments.back().bytes)) != 0) {
        log::get("bus")->warn("bus: cannot release the unused space of a segment in {}: {}",
                              log.dir, strerror(errno));
    }
    ::close(log.fd);
    log.fd = fd;
    log.segments.push_back({base, 0, std::chrono::system_clock::now()});
    rolled_ = true;
    return okStatus();
}

void EmbeddedWriter::publishHeads() {
    thread_local std::string buf;
    buf.resize(partitions_ * logfmt::kHeadBytes);
    for (uint32_t p = 0; p < partitions_; ++p) {
        const PartitionLog& log = logs_[p];
        logfmt::Head h{log.next_offset, log.segments.back().base, log.segments.back().bytes};
        logfmt::encodeHead(h, buf.data() + p * logfmt::kHeadBytes);
    }
    // Not fsynced: it only ever names durable data, and recovery rewrites it.
    Status s = pwriteAll(heads_fd_, buf.data(), buf.size(), 0, "heads");
    if (!s.ok()) {
        metrics_.error("write").inc();
        VIGIL_LOG_RATE_LIMITED(log::get("bus"), spdlog::level::err, "bus: {}", s.message());
    }
}

void EmbeddedWriter::applyRetention() {
    rolled_ = false;
    last_retention_ = Clock::now();
    const auto now = std::chrono::system_clock::now();
    for (auto& log : logs_) {
        uint64_t total = 0;
        for (const auto& s : log.segments) total += s.bytes;
        while (log.segments.size() > 1) {
            const Segment& old = log.segments.front();
            const bool too_big = total > options_.retention_bytes;
            const bool too_old = now - old.last_write > options_.retention_age;
            if (!too_big && !too_old) break;
            std::string path = fs::joinPath(log.dir, logfmt::segmentName(old.base));
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
                metrics_.error("retention").inc();
                log::get("bus")->error("bus: retention cannot delete {}: {}", path,
                                       strerror(errno));
                break;
            }
            metrics_.retention_segments.inc();
            metrics_.retention_bytes.inc(old.bytes);
            total -= old.bytes;
            log.segments.pop_front();
        }
    }
}

void EmbeddedWriter::complete(Batch& batch, const Status& status) {
    const auto now = Clock::now();
    CallbackScope scope;
    for (Pending& p : batch.pending) {
        const bool own_error = !p.error.message.empty();
        if (own_error || !status.ok()) {
            metrics_.failed_appends.inc();
            p.done(own_error ? Status(std::move(p.error)) : status);
            continue;
        }
        metrics_.appends.inc();
        metrics_.appended_messages.inc(p.messages);
        metrics_.appended_bytes.inc(p.bytes);
        metrics_.append_latency_us.inc(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - p.start).count()));
        p.done(okStatus());
    }
}

}  // namespace vigil::bus
