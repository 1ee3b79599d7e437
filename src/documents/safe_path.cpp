#include "assemblyline/safe_path.hpp"

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

}  // namespace al
