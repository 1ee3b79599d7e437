// Bus protocol: every message survives encode → decode, malformed input is an
// al::Error naming the problem, and the loopback rule that decides on CURVE.
#include "assemblyline/bus_protocol.hpp"

#include <gtest/gtest.h>

#include "assemblyline/config.hpp"
#include "assemblyline/error.hpp"
#include "assemblyline/worker_runtime.hpp"

namespace al::bus {
namespace {

TEST(BusProtocol, HelloRoundTripsEveryField) {
  Hello in{"assembler", 1000, 750, 500, 4242, "host-a", protocol_version};
  auto frames = encode(in);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0], "HELLO");
  auto out = std::get<Hello>(decode(frames));
  EXPECT_EQ(out.stage, "assembler");
  EXPECT_EQ(out.credits, 1000);
  EXPECT_EQ(out.free, 750);
  EXPECT_EQ(out.batch, 500);
  EXPECT_EQ(out.pid, 4242);
  EXPECT_EQ(out.host, "host-a");
  EXPECT_EQ(out.protocol, protocol_version);
}

TEST(BusProtocol, WorkCarriesIdsWithTheirAttempts) {
  Work in{7, {1, 2, 9000000000LL}, {0, 3, 1}};
  auto out = std::get<Work>(decode(encode(in)));
  EXPECT_EQ(out.seq, 7u);
  EXPECT_EQ(out.ids, in.ids);
  EXPECT_EQ(out.attempts, in.attempts);
}

TEST(BusProtocol, DoneHeartbeatByeReadyWhoRoundTrip) {
  auto done = std::get<Done>(decode(encode(Done{3, 10, 8, 2})));
  EXPECT_EQ(done.seq, 3u);
  EXPECT_EQ(done.n, 10);
  EXPECT_EQ(done.ok, 8);
  EXPECT_EQ(done.failed, 2);
  auto hb = std::get<Heartbeat>(decode(encode(Heartbeat{12, 44})));
  EXPECT_EQ(hb.free, 12);
  EXPECT_EQ(hb.seq, 44u);
  EXPECT_EQ(std::get<Bye>(decode(encode(Bye{"stopping"}))).reason, "stopping");
  auto ready = std::get<Ready>(decode(encode(Ready{1, 1000, 3000})));
  EXPECT_EQ(ready.heartbeat_ms, 1000);
  EXPECT_EQ(ready.peer_dead_ms, 3000);
  EXPECT_TRUE(std::holds_alternative<Who>(decode(encode(Who{}))));
}

TEST(BusProtocol, VerbFrameNamesTheMessage) {
  const std::vector<std::pair<Message, std::string>> cases = {
      {Hello{"x", 1, 1, 1, 1, "h", 1}, "HELLO"}, {Ready{}, "READY"}, {Work{}, "WORK"}, {Done{}, "DONE"},
      {Heartbeat{}, "HEARTBEAT"},                 {Bye{}, "BYE"},     {Who{}, "WHO"}};
  for (const auto& [message, want] : cases) {
    EXPECT_EQ(verb(message), want);
    EXPECT_EQ(encode(message)[0], want);
  }
}

TEST(BusProtocol, BodyMayBeMissingOrCarryUnknownFields) {
  EXPECT_TRUE(std::holds_alternative<Heartbeat>(decode({"HEARTBEAT"})));
  auto hb = std::get<Heartbeat>(decode({"HEARTBEAT", R"({"free":3,"seq":1,"later":"field"})"}));
  EXPECT_EQ(hb.free, 3);
}

TEST(BusProtocol, MalformedMessagesAreErrorsNotCrashes) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{}, "empty"},
      {{"SHOUT", "{}"}, "unknown verb"},
      {{"WORK", "{not json"}, "malformed"},
      {{"WORK", "[1,2]"}, "not a JSON object"},
      {{"WORK", R"({"ids":[1,2],"attempts":[0]})"}, "2 ids but 1 attempts"},
      {{"WORK", R"({"ids":"one"})"}, "bad field"},
      {{"HELLO", R"({"credits":5,"batch":1})"}, "without a stage"},
      {{"HELLO", R"({"stage":"assembler","credits":0,"batch":1})"}, "at least 1"},
      {{"DONE", "{}", "extra"}, "3 frames"},
  };
  for (const auto& [frames, want] : cases) {
    try {
      (void)decode(frames);
      ADD_FAILURE() << "decode accepted a malformed message; want an error containing '" << want << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << "got: " << e.what() << "\nwant: " << want;
      EXPECT_FALSE(e.retryable());
    }
  }
}

TEST(BusProtocol, LoopbackEndpointsNeedNoCurve) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"tcp://127.0.0.1:5557", true},  {"tcp://localhost:5557", true}, {"tcp://127.1.2.3:9", true},
      {"tcp://[::1]:5557", true},      {"ipc:///tmp/al.sock", true},   {"inproc://bus", true},
      {"tcp://*:5557", false},         {"tcp://0.0.0.0:5557", false},  {"tcp://10.0.0.5:5557", false},
      {"tcp://sched.example:5557", false}, {"tcp://[2001:db8::1]:5557", false},
  };
  for (const auto& [endpoint, want] : cases) {
    EXPECT_EQ(is_loopback_endpoint(endpoint), want) << endpoint;
  }
}

TEST(BusProtocol, NonLoopbackEndpointWithoutKeysIsRefusedWithTheVariableNamed) {
  unsetenv("AL_BUS_CURVE_SERVER_PUBLIC");
  unsetenv("AL_BUS_CURVE_SERVER_SECRET");
  EXPECT_TRUE(curve_keys_for("tcp://127.0.0.1:5557", true).empty());
  try {
    (void)curve_keys_for("tcp://*:5557", true);
    ADD_FAILURE() << "want an error for a non-loopback endpoint without keys";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("AL_BUS_CURVE_SERVER_PUBLIC"), std::string::npos) << e.what();
  }
}

TEST(WorkerCredits, ItemStagesHoldTwoMessagesBatchStagesFour) {
  Config config;
  for (const auto& s : stage_names()) config.stages[s].batch_size = 250;
  const std::vector<std::tuple<std::string, int, int>> cases = {
      {"identifier", 4, 1}, {"assembler", 500, 250}, {"distributor", 500, 250}, {"presenter", 4, 1},
      {"archiver", 4, 1},   {"publisher", 4, 1},     {"notifier", 4, 1},
  };
  for (const auto& [stage, credits, batch] : cases) {
    auto got = worker_credits(stage, config);
    EXPECT_EQ(got.credits, credits) << stage;
    EXPECT_EQ(got.batch, batch) << stage;
  }
}

}  // namespace
}  // namespace al::bus
