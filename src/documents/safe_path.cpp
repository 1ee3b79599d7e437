#include "assemblyline/safe_path.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "assemblyline/error.hpp"

namespace al {
namespace {

/// The value as it may appear in an error message: control characters escaped,
/// so a hostile name cannot forge log lines.
std::string printable(std::string const& value) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out{"\""};
  for (char const ch : value) {
    auto const c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 0x0f];
    } else {
      out += ch;
    }
  }
  return out + '"';
}

[[noreturn]] void refuse(std::string const& value, char const* why) {
  throw Error{"unsafe path " + printable(value) + ": " + why};
}

bool errno_is_transient(int err) {
  return err == ENOSPC || err == EDQUOT || err == EIO || err == EAGAIN || err == EINTR || err == EMFILE ||
         err == ENFILE || err == ENOMEM;
}

[[noreturn]] void fail(std::filesystem::path const& path, char const* operation, int err) {
  throw Error{path.string() + ": " + operation + ": " + std::strerror(err), errno_is_transient(err)};
}

/// Closes the descriptor on every path out of write_file_atomically.
class Fd {
 public:
  explicit Fd(int fd) : m_fd{fd} {}
  Fd(Fd const&) = delete;
  Fd& operator=(Fd const&) = delete;
  ~Fd() {
    if (m_fd >= 0) ::close(m_fd);
  }
  [[nodiscard]] int get() const noexcept { return m_fd; }
  [[nodiscard]] int release() noexcept { return std::exchange(m_fd, -1); }

 private:
  int m_fd;
};

}  // namespace

std::filesystem::path safe_join(std::filesystem::path const& base, std::string const& relative) {
  if (relative.empty()) refuse(relative, "empty name");
  if (relative.front() == '/') refuse(relative, "absolute path");
  for (char const ch : relative) {
    auto const c = static_cast<unsigned char>(ch);
    if (c == 0) refuse(relative, "contains a NUL byte");
    if (c < 0x20 || c == 0x7f) refuse(relative, "contains a control character");
    if (c == '\\') refuse(relative, "contains a backslash");
  }
  std::filesystem::path const rel{relative};
  bool has_name = false;
  for (auto const& part : rel) {
    if (part == "..") refuse(relative, "contains a '..' component");
    if (!part.empty() && part != ".") has_name = true;
  }
  if (!has_name) refuse(relative, "names no file");
  // Lexical check as a second line of defence: the joined path keeps base as prefix.
  auto const joined = (base / rel).lexically_normal();
  auto const root = base.lexically_normal();
  auto const inside = joined.lexically_relative(root);
  if (inside.empty() || *inside.begin() == "..") refuse(relative, "leaves the base directory");
  return joined;
}

AtomicFileSet::~AtomicFileSet() {
  for (auto const& [tmp, target] : m_pending) ::unlink(tmp.c_str());
}

void AtomicFileSet::add(std::filesystem::path const& target, std::string_view bytes) {
  auto const dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path{"."};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail(dir, "create directories", ec.value());

  // Unique per process and call; O_EXCL guards against any stale leftover.
  static std::atomic<unsigned> counter{0};
  auto const tmp = dir / ("." + target.filename().string() + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1)));
  Fd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (fd.get() < 0) fail(tmp, "open", errno);
  m_pending.emplace_back(tmp, target);  // from here on the destructor removes it

  std::size_t done = 0;
  while (done < bytes.size()) {
    auto const n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(tmp, "write", errno);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd.release()) != 0) fail(tmp, "close", errno);
}

void AtomicFileSet::commit() {
  if (m_pending.empty()) return;
  // One flush of the file system holding the files makes every temporary
  // file's contents durable before any of them takes its final name.
  {
    auto const first_dir = m_pending.front().first.parent_path();
    Fd dir_fd{::open(first_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir_fd.get() < 0) fail(first_dir, "open directory", errno);
    if (::syncfs(dir_fd.get()) != 0) fail(first_dir, "syncfs", errno);
  }
  std::vector<std::filesystem::path> dirs;
  for (auto const& [tmp, target] : m_pending) {
    if (::rename(tmp.c_str(), target.c_str()) != 0) fail(target, "rename", errno);
    auto dir = tmp.parent_path();
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(std::move(dir));
  }
  m_pending.clear();
  // The renames are durable only once the directory entries are on disk.
  for (auto const& dir : dirs) {
    Fd dir_fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (dir_fd.get() < 0) fail(dir, "open directory", errno);
    if (::fsync(dir_fd.get()) != 0) fail(dir, "fsync directory", errno);
  }
}

void write_file_atomically(std::filesystem::path const& target, std::string_view bytes) {
  AtomicFileSet set;
  set.add(target, bytes);
  set.commit();
}

}  // namespace al
