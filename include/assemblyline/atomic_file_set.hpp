// Files that other processes pick up from the spool, outbox and archive
// directories must appear whole or not at all, and must survive a crash once
// the stage says they are written. POSIX and Linux (syncfs, O_TMPFILE).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace al {

/// Many files made durable together: add() writes each file without a name
/// (O_TMPFILE) in its target's directory, creating missing directories;
/// commit() flushes them all with one syncfs(2) per file system, links each
/// under its final name (replacing an older file atomically), then makes the
/// names durable: it fsyncs each directory that gained an entry (a file's, or
/// a directory it created), or, past a few such directories on one file
/// system, flushes that file system once more instead. One sync per batch
/// instead of two per file, and one directory entry made per file instead of
/// a temporary one made and removed, is what lets a stage write thousands of
/// files a second. Where unnamed files are not available (a file system without
/// O_TMPFILE, no /proc, or more files pending than descriptors allow) a file
/// is written under a hidden temporary name and renamed instead. Files not
/// committed are removed when the set is destroyed. Throws al::Error,
/// retryable for conditions that can pass (disk full, I/O error).
class AtomicFileSet {
 public:
  AtomicFileSet() = default;
  AtomicFileSet(AtomicFileSet const&) = delete;
  AtomicFileSet& operator=(AtomicFileSet const&) = delete;
  ~AtomicFileSet();

  void add(std::filesystem::path const& target, std::string_view bytes);
  void commit();

 private:
  struct Directory {
    std::filesystem::path path;
    int fd;
    dev_t device;        // its file system, flushed once per commit
    bool unnamed_files;  // false once O_TMPFILE was refused here
  };
  struct Pending {
    std::size_t directory;       // index into m_directories
    std::string name;            // final name inside the directory
    int fd;                      // an unnamed file still open, or -1
    std::string temporary_name;  // a named temporary file, or empty
  };

  struct Parent {  // a directory that gained the entry of a directory this set created
    std::filesystem::path path;
    dev_t device;
  };

  std::size_t directory_for(std::filesystem::path const& dir);
  bool holds_files_in(std::filesystem::path const& dir) const;
  void link_into_place(Pending& file);
  void make_names_durable();

  std::vector<Directory> m_directories;
  std::unordered_map<std::string, std::size_t> m_directory_index;  // by path
  std::vector<Parent> m_parents;
  std::vector<Pending> m_pending;
  std::size_t m_open_files = 0;
};

/// One file through an AtomicFileSet: written whole under a temporary
/// identity, flushed, given its name, the directory flushed; creates the
/// parent directories.
void write_file_atomically(std::filesystem::path const& target, std::string_view bytes);

}  // namespace al
