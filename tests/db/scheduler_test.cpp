// Scheduler against a real PostgreSQL, with the test playing a worker on a
// plain DEALER: leadership, claims sent as WORK, credits, BYE and dead workers
// handing their items back.
#include "assemblyline/scheduler.hpp"

#include <chrono>
#include <functional>
#include <optional>

#include <unistd.h>

#include <gtest/gtest.h>
#include <zmq.hpp>

#include "assemblyline/bus_protocol.hpp"
#include "assemblyline/config.hpp"
#include "bus/bus_socket.hpp"
#include "support/line_process.hpp"
#include "support/test_env.hpp"

namespace al {
namespace {

using std::chrono::milliseconds;

// A port the kernel just handed out: one derived from the pid could be taken
// by any other process and made the bind (and the test) fail now and then.
std::string free_endpoint(int /*offset*/) { return "tcp://127.0.0.1:" + std::to_string(test::free_port()); }

Config test_config(const std::string& url, const std::string& endpoint) {
  return load_config("", {{"AL_DATABASE_URL", url},
                          {"AL_BUS_ENDPOINT", endpoint},
                          {"AL_BUS_HEARTBEAT_MS", "100"},
                          {"AL_BUS_PEER_DEAD_MS", "400"},
                          {"AL_SCHEDULER_POLL_MS", "200"}});
}

// A worker as the scheduler sees it: a DEALER with a name.
struct FakeWorker {
  FakeWorker(zmq::context_t& ctx, const std::string& endpoint, std::string worker_name)
      : name(std::move(worker_name)), socket(bus::connect_dealer(ctx, endpoint, name, {})) {}

  void hello(const std::string& stage, int total) {
    credits = total;
    bus::send(socket, bus::Hello{stage, credits, credits, 1, ::getpid(), "test", bus::protocol_version});
  }
  void done(const bus::Work& w) {
    held -= static_cast<int>(w.ids.size());
    bus::send(socket, bus::Done{w.seq, static_cast<int>(w.ids.size()), static_cast<int>(w.ids.size()), 0});
  }
  // Heartbeats as a real worker sends them, so it is not presumed dead.
  void heartbeat_if_due() {
    const auto now = std::chrono::steady_clock::now();
    if (credits == 0 || now - last_heartbeat < milliseconds(100)) return;
    last_heartbeat = now;
    bus::send(socket, bus::Heartbeat{credits - held, work.empty() ? 0 : work.back().seq});
  }
  std::optional<bus::Message> receive() {
    auto frames = bus::receive_frames(socket);
    if (!frames) return std::nullopt;
    return bus::decode(*frames);
  }

  std::string name;
  zmq::socket_t socket;
  std::vector<bus::Work> work;
  int credits = 0;
  int held = 0;
  std::chrono::steady_clock::time_point last_heartbeat{};
};

// Runs the scheduler's loop until `done` or the timeout; collects the WORK
// messages the fake worker receives.
bool pump(Scheduler& s, FakeWorker& w, const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto wait = s.tick();
    s.wait_and_receive(std::min(wait, milliseconds(20)));
    while (auto m = w.receive()) {
      if (auto* work = std::get_if<bus::Work>(&*m)) {
        w.work.push_back(*work);
        w.held += static_cast<int>(work->ids.size());
      }
    }
    w.heartbeat_if_due();
    if (done()) return true;
  }
  return false;
}

std::string submit_job(const std::string& url) {
  (void)test::query_value(url, "SELECT al.put_template('t', 'Hello {{name}}')");
  return test::query_value(url, R"(SELECT al.submit_job('t', '[{"name":"a"}]'::jsonb))");
}

std::string job_field(const std::string& url, const std::string& job, const std::string& column) {
  return test::query_value(url, "SELECT " + column + " FROM al.jobs WHERE job_id = " + job);
}

TEST(Scheduler, SecondSchedulerStandsByUntilTheLeaderResigns) {
  const auto url = test::fresh_database("scheduler_standby");
  const auto config = test_config(url, free_endpoint(1));
  std::atomic<bool> stop{false};
  Scheduler first(config);
  Scheduler second(config);
  ASSERT_TRUE(first.try_lead(stop));
  EXPECT_FALSE(second.try_lead(stop)) << "got two leaders at once";
  first.resign();
  EXPECT_TRUE(second.try_lead(stop)) << "the standby did not take over after the leader resigned";
  EXPECT_FALSE(first.try_lead(stop));
}

TEST(Scheduler, ClaimIsCommittedBeforeWorkIsSentAndDoneReturnsCredits) {
  const auto url = test::fresh_database("scheduler_claim");
  const auto endpoint = free_endpoint(2);
  const auto config = test_config(url, endpoint);
  std::atomic<bool> stop{false};
  Scheduler scheduler(config);
  ASSERT_TRUE(scheduler.try_lead(stop));
  zmq::context_t ctx;
  FakeWorker worker(ctx, endpoint, "identifier-test@host:1");
  worker.hello("identifier", 1);
  ASSERT_TRUE(pump(scheduler, worker, [&] { return test::query_value(url, "SELECT count(*) FROM al.workers") == "1"; }))
      << "the HELLO never made it into al.workers";

  const auto first = submit_job(url);
  const auto second = submit_job(url);
  ASSERT_TRUE(pump(scheduler, worker, [&] { return !worker.work.empty(); })) << "no WORK within 5 s";
  ASSERT_EQ(worker.work[0].ids.size(), 1u);
  const auto sent = std::to_string(worker.work[0].ids[0]);
  EXPECT_EQ(sent, first) << "claims are FIFO";
  EXPECT_EQ(job_field(url, sent, "jobstatus"), "121");
  EXPECT_EQ(job_field(url, sent, "worker"), worker.name);

  // One credit: nothing more until DONE.
  pump(scheduler, worker, [] { return false; }, milliseconds(300));
  EXPECT_EQ(worker.work.size(), 1u) << "sent more ids than the worker has credits";
  worker.done(worker.work[0]);
  ASSERT_TRUE(pump(scheduler, worker, [&] { return worker.work.size() == 2; })) << "DONE did not return the credit";
  EXPECT_EQ(std::to_string(worker.work[1].ids[0]), second);
}

TEST(Scheduler, ByeHandsTheWorkersItemsBackWithoutCountingAnAttempt) {
  const auto url = test::fresh_database("scheduler_bye");
  const auto endpoint = free_endpoint(3);
  const auto config = test_config(url, endpoint);
  std::atomic<bool> stop{false};
  Scheduler scheduler(config);
  ASSERT_TRUE(scheduler.try_lead(stop));
  zmq::context_t ctx;
  FakeWorker worker(ctx, endpoint, "identifier-bye@host:1");
  worker.hello("identifier", 1);
  const auto job = submit_job(url);
  ASSERT_TRUE(pump(scheduler, worker, [&] { return !worker.work.empty(); }));
  bus::send(worker.socket, bus::Bye{"stopping"});
  ASSERT_TRUE(pump(scheduler, worker, [&] { return job_field(url, job, "jobstatus") == "111"; }))
      << "got jobstatus " << job_field(url, job, "jobstatus") << ", want 111 after BYE";
  EXPECT_EQ(job_field(url, job, "attempt"), "1");
  EXPECT_EQ(job_field(url, job, "tries"), "0") << "an id never acknowledged must not count against max_attempts";
  EXPECT_EQ(test::query_value(url, "SELECT count(*) FROM al.workers"), "0");
}

TEST(Scheduler, SilentWorkerIsPresumedDeadAndItsItemsGoBack) {
  const auto url = test::fresh_database("scheduler_dead");
  const auto endpoint = free_endpoint(4);
  const auto config = test_config(url, endpoint);
  std::atomic<bool> stop{false};
  Scheduler scheduler(config);
  ASSERT_TRUE(scheduler.try_lead(stop));
  zmq::context_t ctx;
  std::string job;
  {
    FakeWorker worker(ctx, endpoint, "identifier-dead@host:1");
    worker.hello("identifier", 1);
    job = submit_job(url);
    ASSERT_TRUE(pump(scheduler, worker, [&] { return !worker.work.empty(); }));
    EXPECT_EQ(job_field(url, job, "jobstatus"), "121");
  }  // the worker vanishes without a word
  zmq::context_t other;
  FakeWorker bystander(other, endpoint, "nobody@host:2");
  ASSERT_TRUE(pump(scheduler, bystander, [&] { return job_field(url, job, "jobstatus") == "111"; }))
      << "got jobstatus " << job_field(url, job, "jobstatus") << ", want 111 once the worker is presumed dead";
  EXPECT_EQ(test::query_value(url, "SELECT count(*) FROM al.workers"), "0");
}

TEST(Scheduler, UnknownPeerIsAskedToSayHello) {
  const auto url = test::fresh_database("scheduler_who");
  const auto endpoint = free_endpoint(5);
  const auto config = test_config(url, endpoint);
  std::atomic<bool> stop{false};
  Scheduler scheduler(config);
  ASSERT_TRUE(scheduler.try_lead(stop));
  zmq::context_t ctx;
  FakeWorker worker(ctx, endpoint, "stranger@host:1");
  bus::send(worker.socket, bus::Heartbeat{1, 0});
  bool asked = false;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(3000);
  while (!asked && std::chrono::steady_clock::now() < deadline) {
    scheduler.wait_and_receive(milliseconds(20));
    while (auto m = worker.receive()) asked = asked || std::holds_alternative<bus::Who>(*m);
  }
  EXPECT_TRUE(asked) << "a HEARTBEAT from an unknown peer got no WHO";
}

}  // namespace
}  // namespace al
