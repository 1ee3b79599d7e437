// LineProcesses: the real line for end-to-end and fault tests — the scheduler
// and the seven workers as separate processes built into AL_BIN_DIR, each with
// its own log file, configured through AL_* variables (a private bus port,
// storage under the test's scratch directory, the test SMTP server).
#pragma once

#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace al::test {

class LineProcesses {
public:
  /// `name` names the scratch directory (AL_TEST_TMP/<name>) and the logs.
  LineProcesses(std::string name, std::string database_url);
  ~LineProcesses();  // stops everything still running

  /// Extra AL_* settings for every process started after this call.
  void set(const std::string& key, const std::string& value) { m_env[key] = value; }

  void start_all();                           ///< scheduler + one worker per stage
  pid_t start(const std::string& program);    ///< "al-scheduler", "al-publisher", …
  void kill(const std::string& program, int signal);  ///< signals every running copy
  /// SIGTERM to all, waits up to `grace_s`, then SIGKILL; returns true when
  /// every process exited 0 within the grace period.
  bool stop_all(int grace_s = 20);

  [[nodiscard]] const std::string& dir() const { return m_dir; }
  [[nodiscard]] std::string storage(const std::string& what) const { return m_dir + "/" + what; }
  /// The last lines of every log, for failure messages.
  [[nodiscard]] std::string log_tail(int lines = 15) const;

private:
  std::string m_name;
  std::string m_dir;
  std::map<std::string, std::string> m_env;
  std::vector<std::pair<std::string, pid_t>> m_children;
  int m_started = 0;
};

/// A TCP port on 127.0.0.1 that was free a moment ago.
[[nodiscard]] int free_port();

/// Polls `sql` (one value) until it equals `want` or `timeout_s` passes;
/// returns the last value seen.
std::string wait_for_value(const std::string& url, const std::string& sql, const std::string& want, int timeout_s);

/// Runs a command with /bin/sh and returns its standard output.
[[nodiscard]] std::string run_command(const std::string& command);

}  // namespace al::test
