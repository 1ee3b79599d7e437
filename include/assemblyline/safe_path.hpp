// Paths built from untrusted names (record fields, recipient addresses of the
// file channel) must stay inside the configured spool, outbox and archive
// directories. Writing there safely is atomic_file_set.hpp.
#pragma once

#include <filesystem>
#include <string>

namespace al {

/// base / relative, refusing (al::Error, not retryable, naming the value) an
/// empty name, an absolute path, any ".." component, NUL or other control
/// characters and backslashes. The result is lexically inside `base`; symlinks
/// inside `base` are trusted, as the administrator put them there.
[[nodiscard]] std::filesystem::path safe_join(std::filesystem::path const& base, std::string const& relative);

}  // namespace al
