#include "assemblyline/atomic_file_set.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "assemblyline/error.hpp"

namespace al {
namespace {

bool errno_is_transient(int err) {
  return err == ENOSPC || err == EDQUOT || err == EIO || err == EAGAIN || err == EINTR || err == EMFILE ||
         err == ENFILE || err == ENOMEM;
}

[[noreturn]] void fail(std::filesystem::path const& path, char const* operation, int err) {
  throw Error{path.string() + ": " + operation + ": " + std::strerror(err), errno_is_transient(err)};
}

/// Unnamed files held open at once by one set: a quarter of the descriptor
/// limit, so a batch of any size never runs the process out of descriptors.
std::size_t max_open_files() {
  static std::size_t const limit = [] {
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY) return std::size_t{1024};
    return static_cast<std::size_t>(std::min<rlim_t>(nofile.rlim_cur / 4, 4096));
  }();
  return limit;
}

/// Whether an unnamed file can be given a name here at all: many kernels
/// refuse linkat(AT_EMPTY_PATH) without CAP_DAC_READ_SEARCH, so /proc/self/fd
/// must be there to fall back on. Without it every file takes a temporary name.
bool can_link_open_files() {
  static bool const can = ::access("/proc/self/fd", X_OK) == 0;
  return can;
}

/// linkat(2) of an open unnamed file: by descriptor where the kernel allows it
/// to this process (AT_EMPTY_PATH), else through /proc/self/fd.
bool link_open_file(int fd, int dir_fd, char const* name) {
  static std::atomic<bool> empty_path_allowed{true};
  if (empty_path_allowed.load(std::memory_order_relaxed)) {
    if (::linkat(fd, "", dir_fd, name, AT_EMPTY_PATH) == 0) return true;
    if (errno != ENOENT && errno != EPERM) return false;
    empty_path_allowed.store(false, std::memory_order_relaxed);
  }
  auto const proc = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, proc.c_str(), dir_fd, name, AT_SYMLINK_FOLLOW) == 0;
}

/// A name no other writer uses: unique per process and call, hidden.
std::string temporary_name_for(std::string const& name) {
  static std::atomic<unsigned> counter{0};
  return "." + name + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

void write_all(int fd, std::string_view bytes, std::filesystem::path const& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto const n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace

AtomicFileSet::~AtomicFileSet() {
  for (auto const& file : m_pending) {
    if (file.fd >= 0) ::close(file.fd);  // an unnamed file vanishes with its last descriptor
    if (!file.temporary_name.empty()) ::unlinkat(m_directories[file.directory].fd, file.temporary_name.c_str(), 0);
  }
  for (auto const& dir : m_directories) ::close(dir.fd);
}

std::size_t AtomicFileSet::directory_for(std::filesystem::path const& dir) {
  // Batches write into one or two directories: a backwards scan finds them at once.
  for (auto i = m_directories.size(); i-- > 0;) {
    if (m_directories[i].path == dir) return i;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir, "create directories", ec.value());
  int const fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(dir, "open directory", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto const err = errno;
    ::close(fd);
    fail(dir, "stat directory", err);
  }
  m_directories.push_back({dir, fd, st.st_dev, true});
  return m_directories.size() - 1;
}

void AtomicFileSet::add(std::filesystem::path const& target, std::string_view bytes) {
  auto const index = directory_for(target.has_parent_path() ? target.parent_path() : std::filesystem::path{"."});
  auto& dir = m_directories[index];
  Pending file{index, target.filename().string(), -1, {}};

  if (dir.unnamed_files && m_open_files < max_open_files() && can_link_open_files()) {
    file.fd = ::openat(dir.fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (file.fd < 0) {
      if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) fail(dir.path, "open unnamed file", errno);
      dir.unnamed_files = false;  // this file system cannot: named temporaries from now on
    }
  }
  if (file.fd >= 0) {
    ++m_open_files;
    m_pending.push_back(std::move(file));
    write_all(m_pending.back().fd, bytes, target);
    return;
  }

  file.temporary_name = temporary_name_for(file.name);
  int const fd = ::openat(dir.fd, file.temporary_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(dir.path / file.temporary_name, "open", errno);
  m_pending.push_back(std::move(file));  // from here on the destructor removes it
  try {
    write_all(fd, bytes, target);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) fail(target, "close", errno);
}

void AtomicFileSet::link_into_place(Pending& file) {
  auto const& dir = m_directories[file.directory];
  if (file.fd >= 0) {
    bool const named = link_open_file(file.fd, dir.fd, file.name.c_str());
    if (!named) {
      if (errno != EEXIST) fail(dir.path / file.name, "link", errno);
      // An older file of that name (a stage redone): link under a temporary
      // name, then rename over it, so readers see the old or the new, never none.
      file.temporary_name = temporary_name_for(file.name);
      if (!link_open_file(file.fd, dir.fd, file.temporary_name.c_str())) {
        auto const err = errno;
        file.temporary_name.clear();
        fail(dir.path / file.name, "link", err);
      }
    }
    ::close(file.fd);
    file.fd = -1;
    --m_open_files;
    if (named) return;
  }
  if (::renameat(dir.fd, file.temporary_name.c_str(), dir.fd, file.name.c_str()) != 0) {
    fail(dir.path / file.name, "rename", errno);
  }
  file.temporary_name.clear();
}

void AtomicFileSet::commit() {
  if (m_pending.empty()) return;
  // One flush of each file system holding the files makes every file's
  // contents durable before any of them takes its final name.
  std::vector<dev_t> flushed;
  for (auto const& dir : m_directories) {
    if (std::find(flushed.begin(), flushed.end(), dir.device) != flushed.end()) continue;
    if (::syncfs(dir.fd) != 0) fail(dir.path, "syncfs", errno);
    flushed.push_back(dir.device);
  }
  for (auto& file : m_pending) link_into_place(file);
  m_pending.clear();
  // The names are durable only once the directory entries are on disk.
  for (auto const& dir : m_directories) {
    if (::fsync(dir.fd) != 0) fail(dir.path, "fsync directory", errno);
  }
}

void write_file_atomically(std::filesystem::path const& target, std::string_view bytes) {
  AtomicFileSet set;
  set.add(target, bytes);
  set.commit();
}

}  // namespace al
