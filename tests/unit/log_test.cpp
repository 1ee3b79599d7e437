// Logging: the text and JSON line formats of the process logger.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "assemblyline/config.hpp"
#include "assemblyline/log.hpp"

namespace {

std::string log_one_line(const al::Config& config, const std::string& stage, const std::string& message) {
  al::init_logging(config, "al-test", stage);
  testing::internal::CaptureStderr();
  spdlog::info("{}", message);
  spdlog::default_logger()->flush();
  return testing::internal::GetCapturedStderr();
}

TEST(Log, TextLineCarriesProcessPidStageAndMessage) {
  const std::string line = log_one_line(al::Config{}, "publisher", "job 42: publish: sent");
  const std::string want = " info al-test[" + std::to_string(::getpid()) + "] publisher: job 42: publish: sent\n";
  EXPECT_NE(line.find(want), std::string::npos) << "got: " << line << "want it to contain: " << want;
  EXPECT_EQ(line[4], '-') << "want an ISO date first, got: " << line;
}

TEST(Log, JsonLineIsOneObjectWithTheMessageEscaped) {
  al::Config config;
  config.log_format = "json";
  const std::string message = "job 42: smtp said \"451\"\nretry \\ later\t%v";
  const std::string line = log_one_line(config, "publisher", message);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "want exactly one line, got: " << line;
  const auto object = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(object.is_discarded()) << "not JSON: " << line;
  EXPECT_EQ(object["msg"], message);
  EXPECT_EQ(object["level"], "info");
  EXPECT_EQ(object["process"], "al-test");
  EXPECT_EQ(object["stage"], "publisher");
  EXPECT_EQ(object["pid"], ::getpid());
  EXPECT_TRUE(object["ts"].is_string());
}

TEST(Log, LevelFromConfigFiltersLessSevereLines) {
  al::Config config;
  config.log_level = "warn";
  EXPECT_EQ(log_one_line(config, "", "chatter"), "");
}

}  // namespace
