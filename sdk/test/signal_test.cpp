// Stop signals: SIGTERM stops the client, wakes its waiters, and shutdown() then flushes every
// buffered record. A separate test binary because a received stop signal is sticky.
#include "vigil/sdk/signals.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>

#include <future>
#include <thread>

#include "sdk/test/test_pipes.h"
#include "vigil/sdk/client.h"

namespace vigil::sdk {
namespace {

using namespace std::chrono_literals;
using test::FrameCollector;
using test::Pipe;

TEST(Signals, SigtermStopsClientAndShutdownFlushes) {
    ASSERT_TRUE(installSignalHandlers().ok());
    ASSERT_TRUE(installSignalHandlers().ok());  // idempotent
    struct sigaction sa {};
    ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &sa), 0);
    EXPECT_EQ(sa.sa_handler, SIG_IGN);
    EXPECT_FALSE(stopSignalReceived());

    Pipe tasks, records;
    ClientOptions opt;
    opt.task_fd = tasks.releaseRead();
    opt.record_fd = records.releaseWrite();
    opt.stderr_fd = -1;
    opt.flush_interval = std::chrono::minutes(10);
    Client client(opt);
    for (int i = 0; i < 500; ++i) client.record(1).field("seq", i).send();
    pollfd pfd{records.read_fd, POLLIN, 0};
    ASSERT_EQ(::poll(&pfd, 1, 0), 0) << "records must still be buffered";

    // A thread blocked in receiveTask() must wake up too.
    std::promise<Result<Task>> received;
    std::thread receiver([&] { received.set_value(client.receiveTask()); });
    auto future = received.get_future();

    ASSERT_EQ(::raise(SIGTERM), 0);  // handled: the test process survives
    EXPECT_TRUE(client.waitForShutdown(5s));
    EXPECT_FALSE(client.running());
    EXPECT_TRUE(stopSignalReceived());
    EXPECT_EQ(stopSignalNumber(), SIGTERM);
    EXPECT_EQ(client.stopReason(), "received SIGTERM");
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    receiver.join();
    EXPECT_FALSE(future.get().ok());

    FrameCollector collector(records.releaseRead());
    client.shutdown();
    ASSERT_TRUE(collector.waitForEof(5s));
    size_t bad = 0;
    const auto recs = collector.records(&bad);
    EXPECT_EQ(bad, 0u);
    ASSERT_EQ(recs.size(), 500u);
    EXPECT_EQ(recs.back().fields.at("seq"), "499");

    // Sticky: a client created afterwards is stopped from the start.
    Pipe t2, r2;
    Client late(t2.releaseRead(), r2.releaseWrite());
    EXPECT_FALSE(late.running());
    EXPECT_TRUE(late.waitForShutdown(0ms));
}

}  // namespace
}  // namespace vigil::sdk
