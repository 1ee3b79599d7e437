// ChangeFeed: tells the console's event streams that something changed. One
// thread LISTENs for the line's notifications (al_ready, al_job_done) and
// polls al.change_marker, which every statement on JOBS, TRNS, RCPS and BCHS
// bumps (sql/020). Pages then refetch what they show; the event carries no
// data, so a missed or doubled event costs a refetch, never a wrong page.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace al::console {

class ChangeFeed {
public:
  ChangeFeed(std::string database_url, int max_streams);
  ~ChangeFeed();  // stop(), then joins the thread

  /// Stops polling and wakes every waiting stream (which then ends).
  void stop();

  /// Waits until the generation differs from `seen`, the feed stops, or
  /// `timeout` passes; returns the generation then.
  [[nodiscard]] uint64_t wait(uint64_t seen, std::chrono::milliseconds timeout);
  [[nodiscard]] uint64_t generation() const { return m_generation.load(); }
  [[nodiscard]] bool stopping() const { return m_stop.load(); }

  /// A stream slot: false when max_streams are open (the page polls instead).
  [[nodiscard]] bool open_stream();
  void close_stream();

private:
  void run();
  void publish();

  std::string m_url;
  int m_max_streams;
  std::atomic<int> m_streams{0};
  std::atomic<uint64_t> m_generation{0};
  std::atomic<bool> m_stop{false};
  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::thread m_thread;
};

}  // namespace al::console
