// Config: the declaration table, the JSON loader and the AL_* overrides.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "assemblyline/config.hpp"
#include "assemblyline/error.hpp"

namespace {

using Env = std::map<std::string, std::string>;

// A config file that removes itself.
class TempFile {
public:
  explicit TempFile(const std::string& text) {
    char name[] = "/tmp/al_config_test_XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd < 0) throw std::runtime_error("mkstemp failed");
    ::close(fd);
    m_path = name;
    std::ofstream(m_path) << text;
  }
  ~TempFile() { std::remove(m_path.c_str()); }
  [[nodiscard]] const std::string& path() const { return m_path; }

private:
  std::string m_path;
};

// The message of the al::Error that loading `json` (and `env`) throws, or "" if none.
std::string load_error(const std::string& json, const Env& env = {}) {
  TempFile file(json);
  try {
    (void)al::load_config(file.path(), env);
  } catch (const al::Error& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "got: " << text << "\nwant it to contain: " << part;
}

TEST(Config, EmptyPathGivesTheDeclaredDefaults) {
  const al::Config config = al::load_config("", Env{});
  EXPECT_EQ(config.database_url, "postgresql://postgres@127.0.0.1:54329/assemblyline");
  EXPECT_EQ(config.bus_heartbeat_ms, 1000);
  EXPECT_EQ(config.bus_peer_dead_ms, 3000);
  EXPECT_EQ(config.smtp_rate_per_minute, 0);
  EXPECT_EQ(config.log_format, "text");
  ASSERT_EQ(config.stages.size(), al::stage_names().size());
  for (const auto& stage : al::stage_names()) {
    const al::StageConfig& s = config.stage(stage);
    EXPECT_TRUE(s.enabled) << stage;
    EXPECT_EQ(s.workers, stage == "identifier" || stage == "notifier" ? 1 : 2) << stage;
    EXPECT_EQ(s.batch_size, 500) << stage;
    EXPECT_EQ(s.timeout_s, 60) << stage;
    EXPECT_EQ(s.max_attempts, 5) << stage;
  }
  EXPECT_TRUE(config.warnings.empty());
}

TEST(Config, ADefaultConstructedConfigAlreadyHasEveryStage) {
  const al::Config config;
  for (const auto& stage : al::stage_names()) EXPECT_NO_THROW((void)config.stage(stage)) << stage;
}

TEST(Config, ParametersListEveryKeyWithItsEnvironmentName) {
  std::map<std::string, al::ParameterInfo> by_key;
  for (const auto& p : al::parameters()) {
    EXPECT_TRUE(by_key.emplace(p.key, p).second) << "duplicate key " << p.key;
    EXPECT_FALSE(p.doc.empty()) << p.key << " has no doc";
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"database.url", "AL_DATABASE_URL"},
      {"bus.endpoint", "AL_BUS_ENDPOINT"},
      {"bus.heartbeat_ms", "AL_BUS_HEARTBEAT_MS"},
      {"bus.peer_dead_ms", "AL_BUS_PEER_DEAD_MS"},
      {"scheduler.poll_ms", "AL_SCHEDULER_POLL_MS"},
      {"storage.archive_dir", "AL_STORAGE_ARCHIVE_DIR"},
      {"storage.outbox_dir", "AL_STORAGE_OUTBOX_DIR"},
      {"storage.spool_dir", "AL_STORAGE_SPOOL_DIR"},
      {"smtp.url", "AL_SMTP_URL"},
      {"smtp.from", "AL_SMTP_FROM"},
      {"smtp.rate_per_minute", "AL_SMTP_RATE_PER_MINUTE"},
      {"smtp.timeout_s", "AL_SMTP_TIMEOUT_S"},
      {"webhook.timeout_s", "AL_WEBHOOK_TIMEOUT_S"},
      {"webhook.max_attempts", "AL_WEBHOOK_MAX_ATTEMPTS"},
      {"jobs.max_records", "AL_JOBS_MAX_RECORDS"},
      {"log.level", "AL_LOG_LEVEL"},
      {"log.format", "AL_LOG_FORMAT"},
      {"metrics.listen", "AL_METRICS_LISTEN"},
  };
  for (const auto& [key, env] : cases) {
    ASSERT_TRUE(by_key.count(key)) << "missing key " << key;
    EXPECT_EQ(by_key[key].env, env) << key;
  }
  for (const auto& stage : al::stage_names())
    for (const std::string field : {"enabled", "workers", "batch_size", "timeout_s", "max_attempts"}) {
      const std::string key = "stages." + stage + "." + field;
      ASSERT_TRUE(by_key.count(key)) << "missing key " << key;
      std::string env = "AL_STAGES_";
      for (const char c : stage + "_" + field) env += static_cast<char>(std::toupper(c));
      EXPECT_EQ(by_key[key].env, env) << key;
    }
  EXPECT_EQ(by_key["stages.publisher.workers"].default_value, "2");
  EXPECT_EQ(by_key["stages.notifier.workers"].default_value, "1");
  EXPECT_EQ(by_key["stages.publisher.workers"].type, "int");
  EXPECT_EQ(by_key["stages.notifier.enabled"].default_value, "true");
  EXPECT_EQ(by_key["stages.notifier.enabled"].type, "bool");
  EXPECT_EQ(by_key["log.format"].choices, (std::vector<std::string>{"text", "json"}));
}

TEST(Config, JsonFileSetsNestedKeys) {
  TempFile file(R"({
    "_comment": "keys starting with an underscore are notes",
    "database": {"url": "postgresql://db.example/al"},
    "bus": {"heartbeat_ms": 500, "peer_dead_ms": 2000},
    "stages": {"publisher": {"workers": 3, "enabled": false}, "assembler": {"batch_size": 50}},
    "storage": {"archive_dir": "/srv/archive"},
    "log": {"level": "debug", "format": "json"}
  })");
  const al::Config config = al::load_config(file.path(), Env{});
  EXPECT_EQ(config.database_url, "postgresql://db.example/al");
  EXPECT_EQ(config.bus_heartbeat_ms, 500);
  EXPECT_EQ(config.bus_peer_dead_ms, 2000);
  EXPECT_EQ(config.stage("publisher").workers, 3);
  EXPECT_FALSE(config.stage("publisher").enabled);
  EXPECT_EQ(config.stage("publisher").batch_size, 500) << "keys not in the file keep their defaults";
  EXPECT_EQ(config.stage("assembler").batch_size, 50);
  EXPECT_EQ(config.storage_archive_dir, "/srv/archive");
  EXPECT_EQ(config.log_level, "debug");
  EXPECT_EQ(config.log_format, "json");
  EXPECT_EQ(al::parameter_value(config, "stages.publisher.workers"), "3");
}

TEST(Config, ShippedExampleLoadsAndEqualsTheDefaults) {
  const std::string path = std::string(AL_SOURCE_DIR) + "/config/assemblyline.json";
  const al::Config example = al::load_config(path, Env{});
  const al::Config defaults;
  for (const auto& p : al::parameters())
    EXPECT_EQ(al::parameter_value(example, p.key), al::parameter_value(defaults, p.key)) << p.key;
}

TEST(Config, EnvironmentOverridesTheFile) {
  TempFile file(R"({"stages": {"publisher": {"workers": 3}}, "smtp": {"url": "smtp://file"}})");
  const Env env = {{"AL_STAGES_PUBLISHER_WORKERS", "2"},
                   {"AL_DATABASE_URL", "postgresql://env/al"},
                   {"AL_STORAGE_ARCHIVE_DIR", "/env/archive"},
                   {"AL_STAGES_NOTIFIER_ENABLED", "false"},
                   {"AL_SMTP_RATE_PER_MINUTE", "120"}};
  const al::Config config = al::load_config(file.path(), env);
  EXPECT_EQ(config.stage("publisher").workers, 2);
  EXPECT_EQ(config.database_url, "postgresql://env/al");
  EXPECT_EQ(config.storage_archive_dir, "/env/archive");
  EXPECT_FALSE(config.stage("notifier").enabled);
  EXPECT_EQ(config.smtp_rate_per_minute, 120);
  EXPECT_EQ(config.smtp_url, "smtp://file");
}

TEST(Config, UnknownEnvironmentVariablesAreNotedButTestVariablesAreNot) {
  const Env env = {{"AL_STAGES_PUBLISHER_WORKRES", "2"}, {"AL_TEST_DATABASE_URL", "x"}, {"PATH", "/bin"}};
  const al::Config config = al::load_config("", env);
  ASSERT_EQ(config.warnings.size(), 1u);
  expect_contains(config.warnings[0], "AL_STAGES_PUBLISHER_WORKRES");
}

TEST(Config, BadEnvironmentValuesNameTheVariable) {
  const std::vector<std::pair<Env, std::string>> cases = {
      {{{"AL_STAGES_PUBLISHER_WORKERS", "two"}}, "stages.publisher.workers: expected int, got \"two\""},
      {{{"AL_STAGES_PUBLISHER_WORKERS", "2x"}}, "AL_STAGES_PUBLISHER_WORKERS"},
      {{{"AL_STAGES_PUBLISHER_WORKERS", "1000"}}, "1000 is out of range [0, 64]"},
      {{{"AL_STAGES_PUBLISHER_WORKERS", "99999999999999999999999"}}, "out of range"},
      {{{"AL_STAGES_PUBLISHER_ENABLED", "maybe"}}, "expected bool"},
      {{{"AL_LOG_FORMAT", "xml"}}, "log.format: \"xml\" is not one of text, json"},
  };
  for (const auto& [env, want] : cases) {
    std::string got;
    try {
      (void)al::load_config("", env);
    } catch (const al::Error& e) {
      got = e.what();
    }
    expect_contains(got, want);
  }
}

TEST(Config, UnknownKeyIsAnErrorNamingTheFullPath) {
  expect_contains(load_error(R"({"stages": {"publisher": {"wrokers": 2}}})"),
                  "config: unknown key 'stages.publisher.wrokers'");
  expect_contains(load_error(R"({"stages": {"printer": {"workers": 2}}})"), "config: unknown key 'stages.printer'");
  expect_contains(load_error(R"({"databse": {"url": "x"}})"), "config: unknown key 'databse'");
  expect_contains(load_error(R"({"database": {"url": "x", "pool": 3}})"), "config: unknown key 'database.pool'");
}

TEST(Config, OutOfRangeValueNamesKeyValueAndBounds) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"stages": {"publisher": {"workers": 65}}})", "stages.publisher.workers: 65 is out of range [0, 64]"},
      {R"({"stages": {"archiver": {"batch_size": 0}}})", "stages.archiver.batch_size: 0 is out of range [1, 100000]"},
      {R"({"smtp": {"rate_per_minute": -1}})", "smtp.rate_per_minute: -1 is out of range [0, 1000000]"},
      {R"({"bus": {"heartbeat_ms": 18446744073709551615}})", "bus.heartbeat_ms: 18446744073709551615 is out of range"},
      {R"({"log": {"level": "verbose"}})", "log.level: \"verbose\" is not one of trace, debug, info, warn, error"},
  };
  for (const auto& [json, want] : cases) expect_contains(load_error(json), want);
}

TEST(Config, WrongTypeNamesKeyAndWhatWasFound) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"stages": {"publisher": {"workers": "2"}}})", "stages.publisher.workers: expected int, got string \"2\""},
      {R"({"stages": {"publisher": {"workers": 1.5}}})", "stages.publisher.workers: expected int, got number 1.5"},
      {R"({"stages": {"publisher": {"enabled": 1}}})", "stages.publisher.enabled: expected bool, got number 1"},
      {R"({"database": {"url": 5}})", "database.url: expected string, got number 5"},
      {R"({"database": "postgresql://x"})", "database: expected an object"},
      {R"({"stages": {"publisher": 2}})", "stages.publisher: expected an object"},
      {R"({"log": {"level": null}})", "log.level: expected string, got null"},
  };
  for (const auto& [json, want] : cases) expect_contains(load_error(json), want);
}

TEST(Config, MalformedOrMissingFileIsAnErrorNamingIt) {
  TempFile broken(R"({"database": )");
  try {
    (void)al::load_config(broken.path(), Env{});
    FAIL() << "want an error for malformed JSON";
  } catch (const al::Error& e) {
    expect_contains(e.what(), broken.path());
    expect_contains(e.what(), "parse error");
  }
  expect_contains(load_error("[1, 2]"), "expected a JSON object");
  try {
    (void)al::load_config("/nonexistent/al.json", Env{});
    FAIL() << "want an error for a missing file";
  } catch (const al::Error& e) {
    expect_contains(e.what(), "config: cannot read /nonexistent/al.json");
  }
}

TEST(Config, PeerDeadMustExceedHeartbeat) {
  expect_contains(load_error(R"({"bus": {"heartbeat_ms": 3000, "peer_dead_ms": 3000}})"),
                  "bus.peer_dead_ms (3000) must be greater than bus.heartbeat_ms (3000)");
}

TEST(Config, UnknownStageIsAnError) {
  const al::Config config;
  try {
    (void)config.stage("printer");
    FAIL() << "want an error for stage 'printer'";
  } catch (const al::Error& e) {
    expect_contains(e.what(), "unknown stage 'printer'");
  }
}

}  // namespace
