// Spool crash safety: a child process appends (and now and then acks) in a loop, reporting each
// returned seq through a pipe; the parent SIGKILLs it mid-way, reopens the spool and checks that
// every reported batch is present and intact.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "agent/spool/spool.h"
#include "libs/common/fs.h"
#include "libs/wire/batch.h"

namespace vigil::agent {
namespace {

using namespace std::chrono_literals;

struct Report {
    uint64_t kind;  // 1 = appended, 2 = acked
    uint64_t seq;
    uint64_t records;
};

// From one record to ~1 MiB batches, so the kill often lands inside a write.
uint32_t recordsFor(uint64_t round, uint64_t i) {
    return 1 + static_cast<uint32_t>((i * 997 + round * 31) % 5000);
}

std::string payloadFor(uint64_t i, uint32_t r) {
    std::string s = std::to_string(i) + "/" + std::to_string(r) + ":";
    s.resize(180 + (i + r) % 40, 'q');
    return s;
}

[[noreturn]] void childLoop(const std::string& dir, int fd, uint64_t round) {
    metrics::Registry m;
    auto spool = Spool::open({.dir = dir, .segment_bytes = 1 << 20}, m);
    if (!spool.ok()) _exit(3);
    wire::BatchHeader h;
    h.agent_id = "crash-agent";
    std::string header = wire::encodeBatchHeader(h);
    for (uint64_t i = 0;; ++i) {
        wire::BatchBuilder b;
        uint32_t n = recordsFor(round, i);
        Lane lane = i % 5 == 0 ? Lane::kCritical : Lane::kTelemetry;
        for (uint32_t r = 0; r < n; ++r)
            b.add(lane == Lane::kCritical ? 5100 : 59, static_cast<int64_t>(i), payloadFor(i, r));
        auto seq = (*spool)->append(lane, b, header);
        if (!seq.ok()) _exit(4);
        Report rep{1, *seq, n};
        if (::write(fd, &rep, sizeof(rep)) != sizeof(rep)) _exit(5);
        if (i % 17 == 16 && *seq > 10) {
            (*spool)->ack(*seq - 10);
            Report a{2, *seq - 10, 0};
            if (::write(fd, &a, sizeof(a)) != sizeof(a)) _exit(5);
        }
    }
}

void runRound(uint64_t round, const std::string& dir, std::map<uint64_t, uint64_t>& appended,
              uint64_t& acked) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(p[0]);
        childLoop(dir, p[1], round);
    }
    ::close(p[1]);
    // Let it run for a varying number of reports, then kill it wherever it is.
    const size_t kill_after = 20 + round * 13;
    size_t reports = 0;
    Report rep;
    auto read_one = [&]() {
        size_t got = 0;
        while (got < sizeof(rep)) {
            ssize_t n = ::read(p[0], reinterpret_cast<char*>(&rep) + got, sizeof(rep) - got);
            if (n <= 0) return false;
            got += static_cast<size_t>(n);
        }
        return true;
    };
    auto record = [&]() {
        if (rep.kind == 1)
            appended[rep.seq] = rep.records;
        else
            acked = std::max(acked, rep.seq);
    };
    while (reports < kill_after && read_one()) {
        record();
        ++reports;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100 * round));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << WEXITSTATUS(status);
    // Reports written before the kill are still in the pipe.
    while (read_one()) record();
    ::close(p[0]);
}

TEST(SpoolCrashTest, EveryReportedBatchSurvivesKill9) {
    char tmpl[] = "/tmp/vigil-spool-crash-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    std::map<uint64_t, uint64_t> appended;  // seq -> records
    uint64_t acked = 0;
    for (uint64_t round = 0; round < 8; ++round) {
        runRound(round, dir, appended, acked);
        if (HasFatalFailure()) break;

        metrics::Registry m;
        auto spool = Spool::open({.dir = dir, .segment_bytes = 1 << 20}, m);
        ASSERT_TRUE(spool.ok()) << spool.message();
        auto st = (*spool)->stats();
        EXPECT_GE(st.acked_seq, acked) << "an acknowledgement the child saw return was lost";
        EXPECT_GE(st.last_seq, appended.rbegin()->first);
        // Every reported, unacknowledged batch is there, in order, with all its records.
        std::map<uint64_t, uint64_t> found;
        SpooledBatch b;
        uint64_t after = st.acked_seq;
        while ((*spool)->next(after, b, 10ms)) {
            wire::BatchView v;
            ASSERT_TRUE(wire::parseBatch(*b.bytes, v)) << "batch " << b.seq << " is corrupt";
            EXPECT_EQ(v.batch_seq, b.seq);
            EXPECT_EQ(v.header.agent_id, "crash-agent");
            EXPECT_EQ(v.records.size(), b.records);
            found[b.seq] = v.records.size();
            after = b.seq;
        }
        size_t checked = 0;
        for (auto [seq, records] : appended) {
            if (seq <= st.acked_seq) continue;
            auto it = found.find(seq);
            ASSERT_NE(it, found.end())
                << "round " << round << ": reported batch " << seq << " is missing";
            EXPECT_EQ(it->second, records) << "batch " << seq;
            ++checked;
        }
        EXPECT_GT(checked, 0u);
        std::printf(
            "round %lu: %zu batches reported, acked %lu, %zu pending checked, %lu torn bytes cut\n",
            static_cast<unsigned long>(round), appended.size(),
            static_cast<unsigned long>(st.acked_seq), checked,
            static_cast<unsigned long>(st.truncated_bytes));
        // The next child continues where this one stopped.
    }
    (void)fs::removeAll(dir);
}

}  // namespace
}  // namespace vigil::agent
