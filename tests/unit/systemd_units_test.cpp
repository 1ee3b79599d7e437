// The systemd units in config/systemd: the keys operations rely on (notify,
// watchdog, hardening, one worker instance per stage), and `systemd-analyze
// verify` on them where it exists — elsewhere a strict parse of the files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "assemblyline/config.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path units_dir = fs::path(AL_SOURCE_DIR) / "config/systemd";
const std::vector<std::string> unit_names = {"assemblyline-scheduler.service", "assemblyline-worker@.service",
                                             "assemblyline-console.service", "assemblyline.target"};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// section → key → every value of the key, in order; throws on a line that is
// neither blank, a comment, a [section] nor key=value.
using Unit = std::map<std::string, std::map<std::string, std::vector<std::string>>>;

Unit parse_unit(const fs::path& path) {
  Unit unit;
  std::istringstream in(read_file(path));
  std::string line, section;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos || eq == 0 || section.empty() || line.back() == '\\')
      throw std::runtime_error(path.filename().string() + ":" + std::to_string(number) + ": not key=value: " + line);
    unit[section][line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return unit;
}

std::string value(const Unit& unit, const std::string& section, const std::string& key) {
  const auto s = unit.find(section);
  if (s == unit.end()) return "";
  const auto k = s->second.find(key);
  return k == s->second.end() || k->second.empty() ? "" : k->second.back();
}

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  *status = ::pclose(pipe);
  return out;
}

}  // namespace

TEST(SystemdUnits, ServicesAreNotifyWithWatchdogHardeningAndADedicatedUser) {
  for (const std::string name : {"assemblyline-scheduler.service", "assemblyline-worker@.service"}) {
    const Unit unit = parse_unit(units_dir / name);
    const std::vector<std::pair<std::string, std::string>> want = {
        {"Type", "notify"},           {"NotifyAccess", "main"},      {"User", "assemblyline"},
        {"NoNewPrivileges", "yes"},   {"ProtectSystem", "strict"},   {"PrivateTmp", "yes"},
        {"ProtectHome", "yes"},       {"Restart", "always"},         {"StateDirectory", "assemblyline"},
    };
    for (const auto& [key, want_value] : want)
      EXPECT_EQ(value(unit, "Service", key), want_value) << name << ": [Service] " << key;
    EXPECT_FALSE(value(unit, "Service", "WatchdogSec").empty()) << name << ": no WatchdogSec";
    EXPECT_NE(value(unit, "Service", "ReadWritePaths").find("/var/lib/assemblyline"), std::string::npos)
        << name << ": storage must stay writable under ProtectSystem=strict";
    EXPECT_EQ(value(unit, "Unit", "PartOf"), "assemblyline.target") << name;
    EXPECT_EQ(value(unit, "Install", "WantedBy"), "assemblyline.target") << name;
  }
  const Unit worker = parse_unit(units_dir / "assemblyline-worker@.service");
  EXPECT_EQ(value(worker, "Service", "ExecStart").rfind("/usr/lib/assemblyline/al-%i ", 0), 0u)
      << "the instance names the stage binary; got " << value(worker, "Service", "ExecStart");
  const Unit scheduler = parse_unit(units_dir / "assemblyline-scheduler.service");
  EXPECT_EQ(value(scheduler, "Service", "ExecStart").rfind("/usr/lib/assemblyline/al-scheduler ", 0), 0u);
}

TEST(SystemdUnits, TargetWantsTheSchedulerAndOneWorkerPerStage) {
  const Unit target = parse_unit(units_dir / "assemblyline.target");
  std::set<std::string> wanted;
  for (const auto& line : target.at("Unit").at("Wants")) {
    std::istringstream words(line);
    for (std::string w; words >> w;) wanted.insert(w);
  }
  EXPECT_TRUE(wanted.count("assemblyline-scheduler.service"));
  for (const auto& stage : al::stage_names())
    EXPECT_TRUE(wanted.count("assemblyline-worker@" + stage + ".service")) << "missing worker of stage " << stage;
  EXPECT_EQ(value(target, "Install", "WantedBy"), "multi-user.target");
}

// systemd-analyze checks that ExecStart binaries exist: the units are
// verified with /usr/lib/assemblyline replaced by the build's bin directory.
TEST(SystemdUnits, SystemdAnalyzeVerifyReportsNothing) {
  const fs::path dir = fs::temp_directory_path() / ("al-units-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& name : unit_names) {
    const std::string text =
        std::regex_replace(read_file(units_dir / name), std::regex("/usr/lib/assemblyline/"), std::string(AL_BIN_DIR) + "/");
    std::ofstream(dir / name) << text;
    EXPECT_NO_THROW(parse_unit(dir / name)) << name;
  }
  if (!fs::exists("/usr/bin/systemd-analyze")) {
    // No systemd here: the strict parse above is the check, plus the binaries the units start.
    EXPECT_TRUE(fs::exists(fs::path(AL_BIN_DIR) / "al-scheduler"));
    EXPECT_TRUE(fs::exists(fs::path(AL_BIN_DIR) / "al-console"));
    for (const auto& stage : al::stage_names()) EXPECT_TRUE(fs::exists(fs::path(AL_BIN_DIR) / ("al-" + stage)));
    fs::remove_all(dir);
    return;
  }
  std::string units = "./assemblyline-scheduler.service ./assemblyline-console.service ./assemblyline.target";
  for (const auto& stage : al::stage_names()) units += " ./assemblyline-worker@" + stage + ".service";
  int status = 0;
  const std::string out = run("cd '" + dir.string() + "' && /usr/bin/systemd-analyze verify " + units, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify should report nothing";
  fs::remove_all(dir);
}
