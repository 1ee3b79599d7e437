// Paths built from untrusted names (record fields, recipient addresses of the
// file channel) must stay inside the configured spool, outbox and archive
// directories; and files that other processes pick up from those directories
// must appear whole or not at all. POSIX only (fsync, rename).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace al {

/// base / relative, refusing (al::Error, not retryable, naming the value) an
/// empty name, an absolute path, any ".." component, NUL or other control
/// characters and backslashes. The result is lexically inside `base`; symlinks
/// inside `base` are trusted, as the administrator put them there.
[[nodiscard]] std::filesystem::path safe_join(std::filesystem::path const& base, std::string const& relative);

/// Writes `bytes` to `target` via a temporary file in the same directory,
/// fsyncs it, renames it into place and fsyncs the directory; creates the
/// parent directories. Readers never see a partial file. Throws al::Error,
/// retryable for conditions that can pass (disk full, I/O error).
void write_file_atomically(std::filesystem::path const& target, std::string_view bytes);

/// Many files made durable together: add() writes each to a temporary name in
/// its target's directory; commit() flushes them all with one syncfs(2),
/// renames them into place and fsyncs each directory once. One sync per batch
/// instead of two per file is what lets a stage write thousands of files a
/// second. Files not committed are removed when the set is destroyed.
class AtomicFileSet {
public:
  AtomicFileSet() = default;
  AtomicFileSet(AtomicFileSet const&) = delete;
  AtomicFileSet& operator=(AtomicFileSet const&) = delete;
  ~AtomicFileSet();

  void add(std::filesystem::path const& target, std::string_view bytes);
  void commit();

private:
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> m_pending;  // temporary, target
};

}  // namespace al
