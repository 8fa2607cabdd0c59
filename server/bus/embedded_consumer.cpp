// Embedded bus consumer: segment reading bounded by the durable heads, retention skips,
// family filtering from the entry header, inotify waits and flock()ed group positions.
#include "server/bus/embedded_consumer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "libs/common/fs.h"
#include "libs/common/log.h"

namespace vigil::bus {
namespace {

constexpr size_t kReadChunk = 1 << 20;
// Upper bound of one wait, in case a change notification is missed (or inotify is missing).
constexpr auto kMaxWait = std::chrono::milliseconds(100);

}  // namespace

EmbeddedConsumer::EmbeddedConsumer(std::string dir, uint32_t partitions, ConsumerOptions options,
                                   BusMetrics& metrics)
    : dir_(std::move(dir)),
      partitions_(partitions),
      options_(std::move(options)),
      metrics_(metrics),
      consumed_(metrics.consumed(options_.group)),
      skipped_counter_(metrics.skipped(options_.group)),
      heads_(partitions) {}

Result<std::unique_ptr<EmbeddedConsumer>> EmbeddedConsumer::open(const std::string& dir,
                                                                 uint32_t partitions,
                                                                 const ConsumerOptions& options,
                                                                 BusMetrics& metrics) {
    VIGIL_TRY(checkGroupName(options.group));
    std::unique_ptr<EmbeddedConsumer> c(new EmbeddedConsumer(dir, partitions, options, metrics));
    if (options.families.empty()) {
        c->families_.fill(true);
    } else {
        for (Family f : options.families) c->families_[static_cast<size_t>(f)] = true;
    }
    std::vector<uint32_t> ids = options.partitions;
    if (ids.empty()) {
        for (uint32_t p = 0; p < partitions; ++p) ids.push_back(p);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const std::string group_dir = fs::joinPath(fs::joinPath(dir, "groups"), options.group);
    VIGIL_TRY(fs::makeDirs(group_dir));
    c->inotify_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->inotify_fd_ >= 0 &&
        ::inotify_add_watch(c->inotify_fd_, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        ::close(c->inotify_fd_);
        c->inotify_fd_ = -1;
    }
    if (c->inotify_fd_ < 0) {
        log::get("bus")->warn("bus: no inotify on {} ({}): consumers poll every {} ms", dir,
                              strerror(errno), kMaxWait.count());
    }
    c->readHeads();
    c->parts_.resize(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] >= partitions) {
            return makeError("bus {}: no partition {} (the bus has {})", dir, ids[i], partitions);
        }
        PartReader& r = c->parts_[i];
        r.id = ids[i];
        r.dir = fs::joinPath(dir, logfmt::partitionDirName(r.id));
        VIGIL_TRY(c->lockPartition(r));
    }
    return c;
}

EmbeddedConsumer::~EmbeddedConsumer() {
    for (PartReader& r : parts_) {
        closeSegment(r);
        if (r.pos_fd >= 0) ::close(r.pos_fd);  // releases the flock
    }
    if (heads_fd_ >= 0) ::close(heads_fd_);
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

Status EmbeddedConsumer::lockPartition(PartReader& r) {
    const std::string path = fs::joinPath(fs::joinPath(fs::joinPath(dir_, "groups"), options_.group),
                                          fmt::format("p{:03}.pos", r.id));
    r.pos_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (r.pos_fd < 0) return makeError("open {}: {}", path, strerror(errno));
    if (::flock(r.pos_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e != EWOULDBLOCK) return makeError("lock {}: {}", path, strerror(e));
        char pid[32] = {};
        ssize_t n = ::pread(r.pos_fd, pid, sizeof(pid) - 1, logfmt::kPositionPid);
        std::string holder = n > 0 ? std::string(pid, strnlen(pid, sizeof(pid))) : "?";
        if (auto nl = holder.find('\n'); nl != std::string::npos) holder.resize(nl);
        return makeError(
            "bus {}: partition {} of consumer group '{}' is in use by another consumer (pid {}); "
            "consumers of one group must ask for disjoint partitions",
            dir_, r.id, options_.group, holder);
    }
    char slots[logfmt::kPositionSlot1 + logfmt::kPositionSlotBytes] = {};
    ssize_t n = ::pread(r.pos_fd, slots, sizeof(slots), 0);
    logfmt::PositionSlot a, b;
    bool va = n >= static_cast<ssize_t>(logfmt::kPositionSlotBytes) &&
              logfmt::decodePosition(slots, a);
    bool vb = n >= static_cast<ssize_t>(sizeof(slots)) &&
              logfmt::decodePosition(slots + logfmt::kPositionSlot1, b);
    if (va || vb) {
        const logfmt::PositionSlot& s = (va && vb) ? (a.seq >= b.seq ? a : b) : (va ? a : b);
        r.pos_seq = s.seq;
        r.committed = r.next = s.next_offset;
    } else {
        r.fresh = true;
        r.committed = r.next = options_.from_latest ? heads_[r.id].next_offset : 0;
    }
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::pwrite(r.pos_fd, pid.data(), pid.size(), logfmt::kPositionPid) < 0) {
        return makeError("write {}: {}", path, strerror(errno));
    }
    return okStatus();
}

void EmbeddedConsumer::readHeads() {
    if (heads_fd_ < 0) {
        heads_fd_ = ::open(fs::joinPath(dir_, "heads").c_str(), O_RDONLY | O_CLOEXEC);
        if (heads_fd_ < 0) return;  // no writer yet: nothing to read
    }
    thread_local std::string buf;
    buf.resize(partitions_ * logfmt::kHeadBytes);
    for (int attempt = 0; attempt < 3; ++attempt) {
        ssize_t n = ::pread(heads_fd_, buf.data(), buf.size(), 0);
        if (n < 0) return;
        bool torn = false;
        for (uint32_t p = 0; p < partitions_; ++p) {
            if ((p + 1) * logfmt::kHeadBytes > static_cast<size_t>(n)) break;
            logfmt::Head h;
            // A record caught mid-write keeps its previous value; the next read fixes it.
            if (logfmt::decodeHead(buf.data() + p * logfmt::kHeadBytes, h)) {
                heads_[p] = h;
            } else {
                torn = true;
            }
        }
        if (!torn) return;
    }
}

void EmbeddedConsumer::closeSegment(PartReader& r) {
    if (r.seg_fd >= 0) ::close(r.seg_fd);
    r.seg_fd = -1;
    r.buf_len = r.buf_pos = 0;
}

void EmbeddedConsumer::skipTo(PartReader& r, uint64_t offset) {
    if (offset <= r.next) return;
    if (!r.fresh) {
        const uint64_t n = offset - r.next;
        skipped_ += n;
        skipped_counter_.inc(n);
        log::get("bus")->warn(
            "bus: consumer group '{}' partition {}: {} messages deleted by retention before they "
            "were read (offsets {}..{})",
            options_.group, r.id, n, r.next, offset - 1);
    }
    r.next = offset;
}

Status EmbeddedConsumer::openSegment(PartReader& r) {
    // A few attempts: retention may delete the chosen segment between listing and opening.
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::vector<uint64_t> bases = logfmt::listSegments(r.dir);
        if (bases.empty()) return okStatus();
        // The segment holding r.next: the last base <= next, unless that one was read to its end.
        size_t i = 0;
        while (i + 1 < bases.size() && bases[i + 1] <= r.next) ++i;
        if (bases[i] > r.next) {
            skipTo(r, bases[i]);  // retention deleted what we had not read yet
        } else if (bases[i] == r.done_base) {
            if (i + 1 == bases.size()) return okStatus();  // the next segment is not there yet
            ++i;
            skipTo(r, bases[i]);
        }
        std::string path = fs::joinPath(r.dir, logfmt::segmentName(bases[i]));
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) continue;
            return makeError("open {}: {}", path, strerror(errno));
        }
        r.seg_fd = fd;
        r.seg_base = bases[i];
        r.cursor = bases[i];
        r.file_at = 0;
        r.buf_len = r.buf_pos = 0;
        r.complete_bytes = kNone;
        if (r.buf.empty()) r.buf.resize(kReadChunk);
        return okStatus();
    }
    return okStatus();
}

Status EmbeddedConsumer::readPartition(PartReader& r, size_t budget, std::vector<Delivery>& out) {
    const logfmt::Head& head = heads_[r.id];
    while (out.size() < budget && r.next < head.next_offset) {
        if (r.seg_fd < 0) {
            VIGIL_TRY(openSegment(r));
            if (r.seg_fd < 0) return okStatus();
        }
        if (r.seg_base > head.segment_base) return okStatus();  // heads not caught up yet
        const bool complete = r.seg_base < head.segment_base;
        uint64_t limit = head.segment_bytes;
        if (complete) {
            if (r.complete_bytes == kNone) {  // a finished segment does not change: stat once
                struct stat st {};
                if (::fstat(r.seg_fd, &st) != 0) return makeError("stat: {}", strerror(errno));
                r.complete_bytes = static_cast<uint64_t>(st.st_size);
            }
            limit = r.complete_bytes;
        }
        logfmt::EntryView e;
        size_t need = 0;
        auto st = logfmt::parseEntry(std::string_view(r.buf.data() + r.buf_pos, r.buf_len - r.buf_pos),
                                     e, &need);
        if (st == logfmt::ParseStatus::kOk) {
            if (r.file_at + r.buf_pos + e.size > limit) return okStatus();  // not durable yet
            if (r.cursor >= r.next) {
                if (families_[static_cast<size_t>(familyOf(e.data_type))]) {
                    Delivery& d = out.emplace_back();
                    d.partition = r.id;
                    d.offset = r.cursor;
                    d.bus_time_ns = e.bus_time_ns;
                    d.data_type = e.data_type;
                    d.key.assign(e.key);
                    d.value.assign(e.value);
                    r.last_delivered = r.cursor;
                }
                r.next = r.cursor + 1;
            }
            ++r.cursor;
            r.buf_pos += e.size;
            continue;
        }
        const uint64_t at = r.file_at + r.buf_pos;
        if (st == logfmt::ParseStatus::kCorrupt) {
            metrics_.error("corrupt").inc();
            if (!complete) {
                return makeError("bus {}: corrupt entry at byte {} of segment {} (offset {})",
                                 r.dir, at, r.seg_base, r.cursor);
            }
            log::get("bus")->error("bus {}: corrupt entry at byte {} of segment {}; skipping the "
                                   "rest of the segment", r.dir, at, r.seg_base);
            r.done_base = r.seg_base;
            closeSegment(r);
            continue;
        }
        if (at >= limit) {
            if (!complete) return okStatus();  // wait for the writer
            r.done_base = r.seg_base;
            closeSegment(r);
            continue;
        }
        // Need more bytes: keep the partial entry, read the next chunk after it.
        std::memmove(r.buf.data(), r.buf.data() + r.buf_pos, r.buf_len - r.buf_pos);
        r.buf_len -= r.buf_pos;
        r.file_at += r.buf_pos;
        r.buf_pos = 0;
        if (need > r.buf.size()) r.buf.resize(need);
        const uint64_t want = std::min<uint64_t>(r.buf.size() - r.buf_len,
                                                 limit - (r.file_at + r.buf_len));
        ssize_t n = ::pread(r.seg_fd, r.buf.data() + r.buf_len, want,
                            static_cast<off_t>(r.file_at + r.buf_len));
        if (n < 0) {
            if (errno == EINTR) continue;
            return makeError("read {} segment {}: {}", r.dir, r.seg_base, strerror(errno));
        }
        if (n == 0) {
            return makeError("bus {}: segment {} is shorter than the durable head ({} < {})", r.dir,
                             r.seg_base, r.file_at + r.buf_len, limit);
        }
        r.buf_len += static_cast<size_t>(n);
    }
    return okStatus();
}

void EmbeddedConsumer::waitForChange(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    const int wait_ms = static_cast<int>(std::min(left, kMaxWait).count());
    if (inotify_fd_ < 0) {
        ::poll(nullptr, 0, wait_ms);
        return;
    }
    pollfd pfd{inotify_fd_, POLLIN, 0};
    if (::poll(&pfd, 1, wait_ms) > 0) {
        char events[4096];
        while (::read(inotify_fd_, events, sizeof(events)) > 0) {
        }
    }
}

Result<std::vector<Delivery>> EmbeddedConsumer::fetch(size_t max, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mu_);
    std::vector<Delivery> out;
    if (max == 0 || parts_.empty()) return out;
    for (;;) {
        readHeads();
        // Partitions take turns being first, so a busy one does not starve the others.
        for (size_t k = 0; k < parts_.size() && out.size() < max; ++k) {
            PartReader& r = parts_[(round_robin_ + k) % parts_.size()];
            Status s = readPartition(r, max, out);
            if (!s.ok()) {
                metrics_.error("fetch").inc();
                if (out.empty()) return s.error();
                break;
            }
        }
        round_robin_ = (round_robin_ + 1) % parts_.size();
        if (!out.empty()) {
            // Partitions were read one after the other: their deliveries are already grouped,
            // each in offset order.
            consumed_.inc(out.size());
            return out;
        }
        if (std::chrono::steady_clock::now() >= deadline) return out;
        lock.unlock();
        waitForChange(deadline);
        lock.lock();
    }
}

Status EmbeddedConsumer::commit(std::span<const Delivery> processed) {
    std::lock_guard lock(mu_);
    for (const Delivery& d : processed) {
        bool owned = false;
        for (const PartReader& r : parts_) owned = owned || r.id == d.partition;
        if (!owned) {
            return makeError("bus: commit of partition {} which this consumer does not read",
                             d.partition);
        }
    }
    Status result;
    for (PartReader& r : parts_) {
        uint64_t top = kNone;
        for (const Delivery& d : processed) {
            if (d.partition == r.id && (top == kNone || d.offset > top)) top = d.offset;
        }
        if (top == kNone) continue;
        // Entries filtered out after the last delivered one count as processed too.
        const uint64_t pos = top == r.last_delivered ? r.next : top + 1;
        if (pos <= r.committed) continue;
        logfmt::PositionSlot slot{r.pos_seq + 1, pos};
        char rec[logfmt::kPositionSlotBytes];
        logfmt::encodePosition(slot, rec);
        const off_t at = (slot.seq % 2 == 0) ? 0 : static_cast<off_t>(logfmt::kPositionSlot1);
        if (::pwrite(r.pos_fd, rec, sizeof(rec), at) != static_cast<ssize_t>(sizeof(rec))) {
            metrics_.error("commit").inc();
            result = makeError("bus {}: commit of group '{}' partition {}: {}", dir_, options_.group,
                               r.id, strerror(errno));
            continue;
        }
        r.pos_seq = slot.seq;
        r.committed = pos;
        r.fresh = false;
    }
    return result;
}

uint64_t EmbeddedConsumer::skipped() const {
    std::lock_guard lock(mu_);
    return skipped_;
}

}  // namespace vigil::bus
