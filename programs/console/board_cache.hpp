// BoardCache: the status board (al.status_board) counted by a thread of its
// own and served from memory. Counting every row of a million-record job's
// tables takes about half a second, longer than a page may wait. The thread
// counts again when al.change_marker moved, at most every 2 s, while someone
// looks at the board (a request in the last 30 s); as_of says when the counts
// were last known exact, and the page asks again while that is old.
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

  /// {"board":[…], "as_of": "…"} at once (the first count is waited for, at
  /// most 10 s), and wakes the counting thread. Throws al::Error (retryable)
  /// when there is no count to give.
  [[nodiscard]] std::string json();

private:
  void run();

  std::string m_url;
  std::mutex m_mutex;
  std::condition_variable m_wake, m_counted;
  std::string m_board;  // JSON array; empty until the first count
  std::string m_as_of;  // JSON string: when the counts were last known exact
  std::chrono::steady_clock::time_point m_requested_at;
  bool m_stop = false;
  std::thread m_thread;
};

}  // namespace al::console
