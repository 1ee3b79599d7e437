// BoardCache: the status board (al.status_board) counted by a thread of its
// own and served from memory. Counting every row of a million-record job's
// tables takes about half a second, longer than a page may wait; the board
// is recounted every 2 s while someone looks at it (a request in the last
// 30 s) and says how old its counts are (as_of).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace al::console {

class BoardCache {
public:
  explicit BoardCache(std::string database_url);
  ~BoardCache();

  /// {"board":[…], "as_of": "…"}; waits for the first count (at most 10 s)
  /// and, when the counts are older than 10 s, for a fresh one. Throws
  /// al::Error (retryable) when there is none to give.
  [[nodiscard]] std::string json();

private:
  void run();

  std::string m_url;
  std::mutex m_mutex;
  std::condition_variable m_wake, m_counted;
  std::string m_json;  // empty until the first count
  std::chrono::steady_clock::time_point m_counted_at, m_requested_at;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace al::console
