// Client task path: receiveTask() against frames from wire::appendTaskFrame and libprotobuf,
// split and batched writes, bad frames, EOF and shutdown.
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "libs/wire/batch.h"
#include "libs/wire/frame.h"
#include "proto/plugin.pb.h"
#include "sdk/test/test_pipes.h"
#include "vigil/sdk/client.h"

namespace vigil::sdk {
namespace {

using namespace std::chrono_literals;
using test::Pipe;

void writeAll(int fd, std::string_view bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
        ASSERT_GT(n, 0);
        off += static_cast<size_t>(n);
    }
}

struct TaskFixture {
    explicit TaskFixture(ClientOptions options = {}) {
        options.task_fd = tasks.releaseRead();
        options.record_fd = records.releaseWrite();
        options.stderr_fd = -1;
        client = std::make_unique<Client>(options);
    }
    Pipe tasks;
    Pipe records;
    std::unique_ptr<Client> client;
};

TEST(ReceiveTask, ParsesAppendTaskFrame) {
    TaskFixture f;
    wire::Buffer b;
    wire::appendTaskFrame(b, 9101, "example", "hello", "tok-1");
    writeAll(f.tasks.write_fd, b.view());
    auto task = f.client->receiveTask();
    ASSERT_TRUE(task.ok()) << task.message();
    EXPECT_EQ(task->data_type, 9101);
    EXPECT_EQ(task->object_name, "example");
    EXPECT_EQ(task->data, "hello");
    EXPECT_EQ(task->token, "tok-1");
}

TEST(ReceiveTask, ParsesLibprotobufTask) {
    TaskFixture f;
    plugin::Task t;
    t.set_data_type(1051);
    t.set_object_name("scanner");
    t.set_data(std::string("{\"path\":\"/tmp\"}\0bin", 19));
    t.set_token("4f2c");
    wire::Buffer b;
    wire::appendFrame(b, t.SerializeAsString());
    // A task with every field at its zero value is an empty message: still a valid task.
    wire::appendFrame(b, plugin::Task().SerializeAsString());
    writeAll(f.tasks.write_fd, b.view());

    auto task = f.client->receiveTask();
    ASSERT_TRUE(task.ok()) << task.message();
    EXPECT_EQ(task->data_type, 1051);
    EXPECT_EQ(task->object_name, "scanner");
    EXPECT_EQ(task->data, t.data());
    EXPECT_EQ(task->token, "4f2c");
    auto empty = f.client->receiveTask();
    ASSERT_TRUE(empty.ok()) << empty.message();
    EXPECT_EQ(empty->data_type, 0);
    EXPECT_EQ(empty->data, "");
}

TEST(ReceiveTask, ToleratesFieldOrderAndUnknownFields) {
    TaskFixture f;
    // token(4), unknown field 9 (varint), data(3), data_type(1): reverse order, as any valid
    // protobuf writer may produce.
    const std::string body = std::string("\x22\x02tk", 4) + std::string("\x48\x07", 2) +
                             std::string(
                                 "\x1a\x01"
                                 "d",
                                 3) +
                             std::string("\x08\x05", 2);
    wire::Buffer b;
    wire::appendFrame(b, body);
    writeAll(f.tasks.write_fd, b.view());
    auto task = f.client->receiveTask();
    ASSERT_TRUE(task.ok()) << task.message();
    EXPECT_EQ(task->data_type, 5);
    EXPECT_EQ(task->data, "d");
    EXPECT_EQ(task->token, "tk");
}

TEST(ReceiveTask, ManyTasksInOneWriteAndOneTaskSplitAcrossWrites) {
    TaskFixture f;
    wire::Buffer b;
    for (int i = 0; i < 50; ++i) wire::appendTaskFrame(b, i, "p", std::to_string(i), "t");
    writeAll(f.tasks.write_fd, b.view());
    for (int i = 0; i < 50; ++i) {
        auto task = f.client->receiveTask();
        ASSERT_TRUE(task.ok()) << task.message();
        EXPECT_EQ(task->data_type, i);
        EXPECT_EQ(task->data, std::to_string(i));
    }
    wire::Buffer one;
    wire::appendTaskFrame(one, 77, "p", std::string(300, 'z'), "split");
    std::thread writer([&] {
        for (size_t i = 0; i < one.size(); ++i) writeAll(f.tasks.write_fd, one.view().substr(i, 1));
    });
    auto task = f.client->receiveTask();
    writer.join();
    ASSERT_TRUE(task.ok()) << task.message();
    EXPECT_EQ(task->data_type, 77);
    EXPECT_EQ(task->data.size(), 300u);
    EXPECT_EQ(task->token, "split");
}

TEST(ReceiveTask, OversizedTaskIsSkippedAndTheNextOneArrives) {
    ClientOptions opt;
    opt.max_task_bytes = 1024;
    TaskFixture f(opt);
    wire::Buffer b;
    wire::appendTaskFrame(b, 1, "p", std::string(5000, 'x'), "big");
    wire::appendTaskFrame(b, 2, "p", "small", "ok");
    std::thread writer([&] { writeAll(f.tasks.write_fd, b.view()); });
    auto first = f.client->receiveTask();
    ASSERT_FALSE(first.ok());
    EXPECT_NE(first.message().find("exceeds the limit"), std::string::npos) << first.message();
    EXPECT_TRUE(f.client->running());
    auto second = f.client->receiveTask();
    writer.join();
    ASSERT_TRUE(second.ok()) << second.message();
    EXPECT_EQ(second->data_type, 2);
    EXPECT_EQ(second->token, "ok");
}

TEST(ReceiveTask, MalformedTaskIsSkipped) {
    TaskFixture f;
    wire::Buffer b;
    wire::appendFrame(b, std::string("\x0a\x7f", 2));  // field 1 as bytes, length past the end
    wire::appendTaskFrame(b, 3, "p", "after", "t");
    writeAll(f.tasks.write_fd, b.view());
    auto bad = f.client->receiveTask();
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.message().find("malformed"), std::string::npos) << bad.message();
    EXPECT_TRUE(f.client->running());
    auto good = f.client->receiveTask();
    ASSERT_TRUE(good.ok()) << good.message();
    EXPECT_EQ(good->data, "after");
}

TEST(ReceiveTask, EofStopsClient) {
    TaskFixture f;
    wire::Buffer b;
    wire::appendTaskFrame(b, 1, "p", "last", "t");
    writeAll(f.tasks.write_fd, b.view());
    auto last = f.client->receiveTask();
    ASSERT_TRUE(last.ok());
    f.tasks.closeWrite();
    auto eof = f.client->receiveTask();
    ASSERT_FALSE(eof.ok());
    EXPECT_NE(eof.message().find("agent closed the task pipe"), std::string::npos) << eof.message();
    EXPECT_FALSE(f.client->running());
    EXPECT_TRUE(f.client->waitForShutdown(0ms));
}

TEST(ReceiveTask, ShutdownWakesABlockedReceiver) {
    TaskFixture f;
    std::promise<Result<Task>> result;
    std::thread receiver([&] { result.set_value(f.client->receiveTask()); });
    auto future = result.get_future();
    EXPECT_EQ(future.wait_for(100ms), std::future_status::timeout);  // really blocked
    f.client->shutdown();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    receiver.join();
    auto r = future.get();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("stopped"), std::string::npos) << r.message();
}

TEST(ReceiveTask, NoTaskPipe) {
    Pipe records;
    ClientOptions opt;
    opt.task_fd = -1;
    opt.record_fd = records.releaseWrite();
    Client client(opt);
    auto r = client.receiveTask();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("no task pipe"), std::string::npos);
    EXPECT_TRUE(client.running());  // a records-only plugin is fine
}

TEST(ReceiveTask, ClosedTaskDescriptorMeansNoTasks) {
    Pipe tasks, records;
    const int fd = tasks.releaseRead();
    ::close(fd);  // as when a plugin is run by hand without fd 3
    ClientOptions opt;
    opt.task_fd = fd;
    opt.record_fd = records.releaseWrite();
    opt.stderr_fd = -1;
    Client client(opt);
    EXPECT_FALSE(client.waitForShutdown(100ms));  // records still work
    auto r = client.receiveTask();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("no task pipe"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace vigil::sdk
