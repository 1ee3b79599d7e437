#include "assemblyline/atomic_file_set.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

namespace {

namespace fs = std::filesystem;

std::string read_file(fs::path const& path) {
  std::ifstream in{path, std::ios::binary};
  std::stringstream got;
  got << in.rdbuf();
  return got.str();
}

std::set<std::string> names_in(fs::path const& dir) {
  std::set<std::string> names;
  for (auto const& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

class AtomicFileSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    m_dir = fs::temp_directory_path() / ("al_atomic_file_set_" + std::to_string(::getpid()));
    fs::remove_all(m_dir);
  }
  void TearDown() override { fs::remove_all(m_dir); }
  fs::path m_dir;
};

TEST_F(AtomicFileSetTest, WritesOneFileCreatingParentsAndReplacingOldContent) {
  auto const target = m_dir / "a" / "b" / "doc.txt";
  al::write_file_atomically(target, "first");
  al::write_file_atomically(target, std::string_view{"second\0bytes", 12});
  EXPECT_EQ(read_file(target), std::string("second\0bytes", 12));
  EXPECT_EQ(names_in(target.parent_path()), std::set<std::string>{"doc.txt"}) << "temporary files left behind";
}

TEST_F(AtomicFileSetTest, NothingIsVisibleBeforeCommitAndNothingStaysWithoutIt) {
  {
    al::AtomicFileSet files;
    files.add(m_dir / "one.txt", "1");
    files.add(m_dir / "two.txt", "2");
    EXPECT_TRUE(names_in(m_dir).empty()) << "a file appeared before commit";
  }
  EXPECT_TRUE(names_in(m_dir).empty()) << "an uncommitted file stayed behind";
}

// More files than a set keeps open at once (at most 4096), across two
// directories, half of them replacing older files: every one arrives whole
// and no temporary name is left.
TEST_F(AtomicFileSetTest, CommitsMoreFilesThanItKeepsOpenReplacingOlderOnes) {
  constexpr int files_per_dir = 2100;
  for (int i = 0; i < files_per_dir; i += 2) al::write_file_atomically(m_dir / "x" / std::to_string(i), "old");
  al::AtomicFileSet files;
  for (auto const* sub : {"x", "y"}) {
    for (int i = 0; i < files_per_dir; ++i) files.add(m_dir / sub / std::to_string(i), std::string(sub) + std::to_string(i));
  }
  files.commit();
  for (auto const* sub : {"x", "y"}) {
    auto const names = names_in(m_dir / sub);
    EXPECT_EQ(names.size(), static_cast<std::size_t>(files_per_dir)) << sub;
    for (int i = 0; i < files_per_dir; i += 97) {
      EXPECT_EQ(read_file(m_dir / sub / std::to_string(i)), std::string(sub) + std::to_string(i));
    }
  }
  EXPECT_EQ(read_file(m_dir / "x" / "0"), "x0");
  EXPECT_EQ(read_file(m_dir / "x" / std::to_string(files_per_dir - 2)), "x" + std::to_string(files_per_dir - 2));
}

// Outbox paths spread a batch over many new directories: past a few, the
// names are made durable by one flush of the file system instead of an fsync
// each. Every file arrives in its own new nested directory.
TEST_F(AtomicFileSetTest, CommitsFilesSpreadOverManyNewDirectories) {
  constexpr int directories = 40;
  al::AtomicFileSet files;
  for (int i = 0; i < directories * 3; ++i) {
    files.add(m_dir / "outbox" / std::to_string(i % directories) / "deep" / (std::to_string(i) + ".html"),
              "letter " + std::to_string(i));
  }
  files.commit();
  EXPECT_EQ(names_in(m_dir / "outbox").size(), static_cast<std::size_t>(directories));
  for (int i = 0; i < directories * 3; ++i) {
    auto const path = m_dir / "outbox" / std::to_string(i % directories) / "deep" / (std::to_string(i) + ".html");
    EXPECT_EQ(read_file(path), "letter " + std::to_string(i)) << path;
  }
  EXPECT_EQ(names_in(m_dir / "outbox" / "7" / "deep"), (std::set<std::string>{"7.html", "47.html", "87.html"}));
}

TEST_F(AtomicFileSetTest, ReportsAnUnwritableDirectoryWithItsPath) {
  fs::create_directories(m_dir);
  std::ofstream{m_dir / "plain-file"} << "x";
  try {
    al::write_file_atomically(m_dir / "plain-file" / "doc.txt", "x");
    FAIL() << "no error";
  } catch (std::exception const& e) {
    EXPECT_NE(std::string(e.what()).find("plain-file"), std::string::npos) << e.what();
  }
}

}  // namespace
