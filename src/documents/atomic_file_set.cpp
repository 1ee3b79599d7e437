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

/// Creates the missing directories of `dir`, top down, and returns the
/// directories that gained an entry: their entries must reach the disk with
/// the files, or a crash on a file system without a journal can lose a new
/// directory with everything in it.
std::vector<std::filesystem::path> create_missing_directories(std::filesystem::path const& dir) {
  std::vector<std::filesystem::path> missing;
  for (auto path = dir; !path.empty(); path = path.parent_path()) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) fail(path, "create directories", ENOTDIR);
      break;
    }
    if (errno != ENOENT) fail(path, "create directories", errno);
    missing.push_back(path);
    if (path == path.parent_path()) break;
  }
  std::vector<std::filesystem::path> parents;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST) fail(*it, "create directory", errno);
    parents.push_back(it->has_parent_path() ? it->parent_path() : std::filesystem::path{"."});
  }
  return parents;
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
  // A batch writes into one directory, or (outbox paths) into hundreds.
  if (auto const found = m_directory_index.find(dir.native()); found != m_directory_index.end()) return found->second;
  auto created_in = create_missing_directories(dir);
  int const fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(dir, "open directory", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto const err = errno;
    ::close(fd);
    fail(dir, "stat directory", err);
  }
  m_directories.push_back({dir, fd, st.st_dev, true});
  m_directory_index.emplace(dir.native(), m_directories.size() - 1);
  // A created directory is on its parent's file system, so on this one.
  for (auto& parent : created_in) {
    auto const known = std::find_if(m_parents.begin(), m_parents.end(),
                                    [&](Parent const& p) { return p.path == parent; });
    if (known == m_parents.end()) m_parents.push_back({std::move(parent), st.st_dev});
  }
  return m_directories.size() - 1;
}

bool AtomicFileSet::holds_files_in(std::filesystem::path const& dir) const {
  return m_directory_index.count(dir.native()) > 0;
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
  make_names_durable();
}

// The names are durable once the directory entries are on disk: an fsync of
// each directory that gained one, or, where more than a few did on one file
// system (outbox paths spread over hundreds of directories), one more syncfs
// of it, which writes them all with a single cache flush of the device
// instead of one each.
void AtomicFileSet::make_names_durable() {
  constexpr std::size_t most_fsyncs_per_file_system = 8;
  std::vector<std::pair<dev_t, std::size_t>> entries_per_device;
  auto const tally = [&](dev_t device) {
    auto it = std::find_if(entries_per_device.begin(), entries_per_device.end(),
                           [&](auto const& e) { return e.first == device; });
    if (it == entries_per_device.end()) {
      entries_per_device.emplace_back(device, 1);
    } else {
      ++it->second;
    }
  };
  // A parent that also holds files is flushed as one of m_directories.
  for (auto const& dir : m_directories) tally(dir.device);
  for (auto const& parent : m_parents) {
    if (!holds_files_in(parent.path)) tally(parent.device);
  }

  std::vector<dev_t> flushed;
  for (auto const& [device, directories] : entries_per_device) {
    if (directories <= most_fsyncs_per_file_system) continue;
    auto const& dir = *std::find_if(m_directories.begin(), m_directories.end(),
                                    [&](Directory const& d) { return d.device == device; });
    if (::syncfs(dir.fd) != 0) fail(dir.path, "syncfs", errno);
    flushed.push_back(device);
  }
  auto const done = [&](dev_t device) { return std::find(flushed.begin(), flushed.end(), device) != flushed.end(); };
  for (auto const& dir : m_directories) {
    if (!done(dir.device) && ::fsync(dir.fd) != 0) fail(dir.path, "fsync directory", errno);
  }
  for (auto const& parent : m_parents) {
    if (done(parent.device) || holds_files_in(parent.path)) continue;
    int const fd = ::open(parent.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail(parent.path, "open directory", errno);
    int const synced = ::fsync(fd);
    auto const err = errno;
    ::close(fd);
    if (synced != 0) fail(parent.path, "fsync directory", err);
  }
  m_parents.clear();
}

void write_file_atomically(std::filesystem::path const& target, std::string_view bytes) {
  AtomicFileSet set;
  set.add(target, bytes);
  set.commit();
}

}  // namespace al
