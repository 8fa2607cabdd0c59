// DiskSpool: append, recovery, shedding and acknowledgement of spooled batches.
#include "agent/spool/disk_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "libs/common/fs.h"
#include "libs/common/log.h"

namespace vigil::agent {
namespace {

namespace sf = spool_format;

constexpr const char* kAckFileName = "ack.state";

std::shared_ptr<spdlog::logger> logger() {
    static auto l = log::get("spool");
    return l;
}

// Writes header + payload at `offset` (short writes continued). 0 or an errno value.
int writeEntry(int fd, uint64_t offset, const char* head, std::string_view payload) {
    struct iovec iov[2];
    size_t total = sf::kEntryHeaderBytes + payload.size();
    size_t done = 0;
    while (done < total) {
        int n_iov = 0;
        if (done < sf::kEntryHeaderBytes) {
            iov[n_iov++] = {const_cast<char*>(head) + done, sf::kEntryHeaderBytes - done};
            iov[n_iov++] = {const_cast<char*>(payload.data()), payload.size()};
        } else {
            size_t p = done - sf::kEntryHeaderBytes;
            iov[n_iov++] = {const_cast<char*>(payload.data()) + p, payload.size() - p};
        }
        ssize_t n = ::pwritev(fd, iov, n_iov, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        done += static_cast<size_t>(n);
    }
    return 0;
}

void fsyncDir(const std::string& dir) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace

Result<std::unique_ptr<Spool>> Spool::open(const SpoolOptions& options,
                                           metrics::Registry& metrics) {
    if (options.dir.empty()) return makeError("spool directory is not set");
    if (options.segment_bytes == 0 || options.max_bytes == 0) {
        return makeError("spool max_bytes and segment_bytes must be positive");
    }
    auto spool = std::make_unique<DiskSpool>(options, metrics);
    VIGIL_TRY(spool->recover());
    return std::unique_ptr<Spool>(std::move(spool));
}

DiskSpool::Segment::~Segment() {
    if (fd >= 0) ::close(fd);
}

DiskSpool::DiskSpool(const SpoolOptions& options, metrics::Registry& metrics) : options_(options) {
    const std::string dropped = "vigil_agent_spool_dropped_records_total";
    const std::string dropped_help = "Records the spool lost, by cause";
    appended_batches_ = &metrics.counter("vigil_agent_spool_appended_batches_total",
                                         "Batches written to the spool");
    appended_records_ = &metrics.counter("vigil_agent_spool_appended_records_total",
                                         "Records written to the spool");
    shed_records_ = &metrics.counter(dropped, dropped_help, {{"cause", "spool_full"}});
    write_error_records_ = &metrics.counter(dropped, dropped_help, {{"cause", "write_error"}});
    corrupt_records_ = &metrics.counter(dropped, dropped_help, {{"cause", "corrupt"}});
    shed_batches_ = &metrics.counter("vigil_agent_spool_dropped_batches_total",
                                     "Batches the spool lost, by cause", {{"cause", "spool_full"}});
    write_errors_metric_ =
        &metrics.counter("vigil_agent_spool_write_errors_total", "Failed spool writes");
    disk_reads_ =
        &metrics.counter("vigil_agent_spool_disk_reads_total",
                         "Batches read back from disk because they were not in the memory cache");
    pending_batches_gauge_ =
        &metrics.gauge("vigil_agent_spool_pending_batches", "Batches not yet acknowledged");
    pending_bytes_gauge_ =
        &metrics.gauge("vigil_agent_spool_pending_bytes", "Bytes of batches not yet acknowledged");
    disk_bytes_gauge_ =
        &metrics.gauge("vigil_agent_spool_disk_bytes", "Bytes of spool segment files");
}

DiskSpool::~DiskSpool() {
    close();
    if (ack_fd_ >= 0) ::close(ack_fd_);
}

Status DiskSpool::recover() {
    VIGIL_TRY(fs::makeDirs(options_.dir, 0700));
    std::string ack_path = fs::joinPath(options_.dir, kAckFileName);
    ack_fd_ = ::open(ack_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ack_fd_ < 0) return makeError("cannot open {}: {}", ack_path, std::strerror(errno));
    // Two writers would interleave entries and reuse seqs: one process per spool directory.
    // The lock goes away with the process, however it dies.
    if (::flock(ack_fd_, LOCK_EX | LOCK_NB) != 0) {
        return makeError("spool {} is in use by another process ({})", options_.dir,
                         std::strerror(errno));
    }
    ack_state_ = sf::readAckState(ack_fd_);

    struct Found {
        Lane lane;
        uint64_t key;
        std::string name;
    };
    std::vector<Found> found;
    DIR* d = ::opendir(options_.dir.c_str());
    if (!d) return makeError("cannot list {}: {}", options_.dir, std::strerror(errno));
    while (struct dirent* e = ::readdir(d)) {
        Found f;
        if (sf::parseSegmentFileName(e->d_name, f.lane, f.key)) {
            f.name = e->d_name;
            found.push_back(std::move(f));
        }
    }
    ::closedir(d);
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return a.key < b.key; });

    std::lock_guard lock(mu_);
    uint64_t max_seen = 0;
    for (const auto& f : found) {
        auto seg = std::make_shared<Segment>();
        seg->lane = f.lane;
        seg->key = f.key;
        seg->path = fs::joinPath(options_.dir, f.name);
        seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
        if (seg->fd < 0) return makeError("cannot open {}: {}", seg->path, std::strerror(errno));
        auto scan = sf::scanSegment(seg->fd, seg->path);
        if (!scan.ok()) return scan.error();
        if (scan->valid_bytes < scan->file_bytes) {
            // A torn tail: the agent died (or the machine lost power) mid-write.
            uint64_t cut = scan->file_bytes - scan->valid_bytes;
            logger()->warn(
                "spool segment {}: truncating {} bytes of torn or corrupt tail after {} entries",
                seg->path, cut, scan->entries.size());
            if (::ftruncate(seg->fd, static_cast<off_t>(scan->valid_bytes)) != 0) {
                return makeError("cannot truncate {}: {}", seg->path, std::strerror(errno));
            }
            truncated_bytes_ += cut;
        }
        seg->size = scan->valid_bytes;
        for (const auto& se : scan->entries) {
            max_seen = std::max(max_seen, se.header.seq);
            if (se.header.seq <= ack_state_.acked_seq || pending_.count(se.header.seq)) continue;
            pending_[se.header.seq] =
                Entry{seg, se.offset, se.header.length, se.header.records, f.lane};
            pending_bytes_ += se.header.length;
            seg->seqs.push_back(se.header.seq);
            ++seg->pending;
        }
        if (seg->pending == 0) {
            ::unlink(seg->path.c_str());
            continue;
        }
        disk_bytes_ += seg->size;
        segments_[static_cast<int>(f.lane)][seg->key] = seg;
    }
    next_seq_ = std::max({max_seen, ack_state_.acked_seq, ack_state_.issued_seq}) + 1;
    if (!pending_.empty() || truncated_bytes_ > 0) {
        logger()->info(
            "spool {}: recovered {} unacknowledged batches ({} bytes), acked up to {}, next seq {}",
            options_.dir, pending_.size(), pending_bytes_, ack_state_.acked_seq, next_seq_);
    }
    updateGaugesLocked();
    return okStatus();
}

Result<std::shared_ptr<DiskSpool::Segment>> DiskSpool::createSegment(Lane lane,
                                                                     uint64_t first_seq) {
    auto seg = std::make_shared<Segment>();
    seg->lane = lane;
    seg->key = first_seq;
    seg->path = fs::joinPath(options_.dir, sf::segmentFileName(lane, first_seq));
    // O_TRUNC: a file with this name can only be a leftover of a failed first write.
    seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (seg->fd < 0) return makeError("cannot create {}: {}", seg->path, std::strerror(errno));
    if (options_.fsync) fsyncDir(options_.dir);
    return seg;
}

void DiskSpool::failAppend(uint32_t records, const std::string& why) {
    write_errors_metric_->inc();
    write_error_records_->inc(records);
    std::lock_guard lock(mu_);
    writing_.reset();
    ++write_errors_;
    failed_records_ += records;
    VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::err,
                           "spool write failed, {} records dropped: {}", records, why);
}

Result<uint64_t> DiskSpool::append(Lane lane, wire::BatchBuilder& builder,
                                   std::string_view encoded_header) {
    std::lock_guard append_lock(append_mu_);
    const auto records = static_cast<uint32_t>(builder.records());
    const int li = static_cast<int>(lane);
    uint64_t seq;
    std::shared_ptr<Segment> seg;
    {
        std::lock_guard lock(mu_);
        seq = next_seq_;
        seg = active_[li];
        if (seg && seg->size >= options_.segment_bytes) seg.reset();  // roll to a new segment
        writing_ = seg;
    }
    if (!seg) {
        auto created = createSegment(lane, seq);
        if (!created.ok()) {
            builder.clear();
            failAppend(records, created.message());
            return created.error();
        }
        seg = std::move(*created);
        std::lock_guard lock(mu_);
        segments_[li][seg->key] = seg;
        active_[li] = seg;
        writing_ = seg;
    }

    wire::Buffer buf;
    builder.seal(encoded_header, seq, buf);
    if (buf.size() > sf::kMaxEntryBytes) {
        failAppend(records, fmt::format("batch of {} bytes is too large", buf.size()));
        return makeError("batch of {} bytes exceeds the spool entry limit", buf.size());
    }
    sf::EntryHeader h;
    h.length = static_cast<uint32_t>(buf.size());
    h.seq = seq;
    h.records = records;
    h.lane = lane;
    h.payload_crc = sf::crc32(buf.view());
    char head[sf::kEntryHeaderBytes];
    sf::encodeEntryHeader(h, head);

    const uint64_t offset = seg->size;
    if (int err = writeEntry(seg->fd, offset, head, buf.view())) {
        // Cut off whatever part was written so the segment stays well-formed.
        if (::ftruncate(seg->fd, static_cast<off_t>(offset)) != 0) {
            logger()->warn("cannot truncate {} after a failed write: {}", seg->path,
                           std::strerror(errno));
        }
        failAppend(records, fmt::format("{}: {}", seg->path, std::strerror(err)));
        return makeError("cannot write {}: {}", seg->path, std::strerror(err));
    }
    if (options_.fsync && ::fdatasync(seg->fd) != 0) {
        // The bytes are in the page cache (they survive a process crash); only power-loss
        // safety is in doubt, so keep the batch and count the error.
        write_errors_metric_->inc();
        std::lock_guard lock(mu_);
        ++write_errors_;
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::err, "fdatasync {}: {}", seg->path,
                               std::strerror(errno));
    }
    auto bytes = std::make_shared<const std::string>(buf.data(), buf.size());
    appended_batches_->inc();
    appended_records_->inc(records);
    {
        std::lock_guard lock(mu_);
        writing_.reset();
        const uint64_t entry_bytes = sf::kEntryHeaderBytes + h.length;
        seg->size += entry_bytes;
        ++seg->pending;
        seg->seqs.push_back(seq);
        disk_bytes_ += entry_bytes;
        pending_[seq] = Entry{seg, offset, h.length, records, lane};
        pending_bytes_ += h.length;
        next_seq_ = seq + 1;
        if (h.length <= options_.memory_cache_bytes) {
            cache_[seq] = std::move(bytes);
            cache_bytes_ += h.length;
            while (cache_bytes_ > options_.memory_cache_bytes && !cache_.empty()) {
                cache_bytes_ -= cache_.begin()->second->size();
                cache_.erase(cache_.begin());
            }
        }
        shedLocked();
        updateGaugesLocked();
    }
    cv_.notify_all();
    return seq;
}

void DiskSpool::shedLocked() {
    while (disk_bytes_ > options_.max_bytes) {
        auto& telemetry = segments_[static_cast<int>(Lane::kTelemetry)];
        if (telemetry.empty()) {
            VIGIL_LOG_RATE_LIMITED(
                logger(), spdlog::level::warn,
                "spool holds {} bytes, over its {} byte limit, and only critical batches are "
                "left: keeping them until a center acknowledges them",
                disk_bytes_, options_.max_bytes);
            return;
        }
        std::shared_ptr<Segment> seg = telemetry.begin()->second;
        uint64_t records = 0;
        uint64_t batches = 0;
        for (uint64_t seq : seg->seqs) {
            auto it = pending_.find(seq);
            if (it == pending_.end()) continue;
            records += it->second.records;
            ++batches;
            pending_bytes_ -= it->second.length;
            pending_.erase(it);
            auto c = cache_.find(seq);
            if (c != cache_.end()) {
                cache_bytes_ -= c->second->size();
                cache_.erase(c);
            }
        }
        dropped_records_ += records;
        dropped_batches_ += batches;
        shed_records_->inc(records);
        shed_batches_->inc(batches);
        VIGIL_LOG_RATE_LIMITED(
            logger(), spdlog::level::warn,
            "spool over its {} byte limit: dropped telemetry segment {} ({} batches, {} records)",
            options_.max_bytes, seg->path, batches, records);
        // Those seqs may have been sent already: record them as issued before their segment
        // goes, so a restart never hands them out again. The space is freed even if that
        // write fails: a full spool must shed.
        persistAckLocked();
        removeSegmentLocked(seg);
    }
}

void DiskSpool::removeSegmentLocked(const std::shared_ptr<Segment>& seg) {
    if (::unlink(seg->path.c_str()) != 0 && errno != ENOENT) {
        logger()->warn("cannot delete spool segment {}: {}", seg->path, std::strerror(errno));
    }
    disk_bytes_ -= seg->size;
    const int li = static_cast<int>(seg->lane);
    segments_[li].erase(seg->key);
    if (active_[li] == seg) active_[li].reset();
}

bool DiskSpool::persistAckLocked() {
    ++ack_state_.generation;
    ack_state_.issued_seq = next_seq_ - 1;
    Status st = sf::writeAckState(ack_fd_, ack_state_);
    // With fsync on, the state must reach the disk before the segments it lets us delete.
    if (st.ok() && options_.fsync && ::fdatasync(ack_fd_) != 0) {
        st = makeError("cannot sync the spool ack state: {}", std::strerror(errno));
    }
    if (!st.ok()) {
        ++write_errors_;
        write_errors_metric_->inc();
        VIGIL_LOG_RATE_LIMITED(logger(), spdlog::level::err, "{}", st.message());
        return false;
    }
    return true;
}

bool DiskSpool::next(uint64_t after_seq, SpooledBatch& out, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    for (;;) {
        bool ready = cv_.wait_until(lock, deadline, [&] {
            return closed_ || pending_.upper_bound(after_seq) != pending_.end();
        });
        if (!ready || closed_) return false;
        auto it = pending_.upper_bound(after_seq);
        const uint64_t seq = it->first;
        const Entry entry = it->second;
        out.seq = seq;
        out.lane = entry.lane;
        out.records = entry.records;
        auto c = cache_.find(seq);
        if (c != cache_.end()) {
            out.bytes = c->second;
            return true;
        }
        // Not cached (sent after a restart or a long disconnection): read it back without
        // holding the lock, so appends and acks go on meanwhile.
        lock.unlock();
        auto bytes = sf::readEntry(entry.segment->fd, entry.offset, seq);
        disk_reads_->inc();
        lock.lock();
        if (bytes.ok()) {
            out.bytes = std::make_shared<const std::string>(std::move(*bytes));
            return true;
        }
        // Corrupt on disk (bit rot, someone else wrote the file): count it and move on.
        auto again = pending_.find(seq);
        if (again != pending_.end()) {
            logger()->error("spool batch {} unreadable, dropping {} records: {}", seq,
                            entry.records, bytes.message());
            failed_records_ += entry.records;
            corrupt_records_->inc(entry.records);
            pending_bytes_ -= again->second.length;
            if (--again->second.segment->pending == 0 && again->second.segment != writing_ &&
                persistAckLocked()) {
                removeSegmentLocked(again->second.segment);
            }
            pending_.erase(again);
            updateGaugesLocked();
        }
    }
}

void DiskSpool::ack(uint64_t ack_seq) {
    std::lock_guard lock(mu_);
    // A center cannot acknowledge what was never handed out: clamp a bogus ack.
    ack_seq = std::min(ack_seq, next_seq_ - 1);
    if (ack_seq <= ack_state_.acked_seq) return;
    ack_state_.acked_seq = ack_seq;
    auto end = pending_.upper_bound(ack_seq);
    for (auto it = pending_.begin(); it != end; ++it) {
        --it->second.segment->pending;
        pending_bytes_ -= it->second.length;
    }
    pending_.erase(pending_.begin(), end);
    while (!cache_.empty() && cache_.begin()->first <= ack_seq) {
        cache_bytes_ -= cache_.begin()->second->size();
        cache_.erase(cache_.begin());
    }
    // The ack state is written before any segment is deleted. The other way round, a kill -9
    // in between leaves a restart with the old acked_seq and a gap above it: batches it reports
    // as unacknowledged are gone, and if the deleted segments held the newest seqs it hands
    // those seqs out again. If the state cannot be written, the segments stay (a restart
    // resends them, which at-least-once allows) until a later ack is recorded.
    if (persistAckLocked()) {
        for (auto& lane : segments_) {
            std::vector<std::shared_ptr<Segment>> done;
            for (auto& [key, seg] : lane) {
                if (seg->pending == 0 && seg != writing_) done.push_back(seg);
            }
            for (auto& seg : done) removeSegmentLocked(seg);
        }
    }
    updateGaugesLocked();
}

SpoolStats DiskSpool::stats() const {
    std::lock_guard lock(mu_);
    SpoolStats s;
    s.pending_batches = pending_.size();
    s.pending_bytes = pending_bytes_;
    s.acked_seq = ack_state_.acked_seq;
    s.last_seq = next_seq_ - 1;
    s.dropped_records = dropped_records_;
    s.dropped_batches = dropped_batches_;
    s.write_errors = write_errors_;
    s.failed_records = failed_records_;
    s.disk_bytes = disk_bytes_;
    s.truncated_bytes = truncated_bytes_;
    return s;
}

void DiskSpool::close() {
    {
        std::lock_guard lock(mu_);
        closed_ = true;
    }
    cv_.notify_all();
}

void DiskSpool::updateGaugesLocked() {
    pending_batches_gauge_->set(static_cast<double>(pending_.size()));
    pending_bytes_gauge_->set(static_cast<double>(pending_bytes_));
    disk_bytes_gauge_->set(static_cast<double>(disk_bytes_));
}

}  // namespace vigil::agent
