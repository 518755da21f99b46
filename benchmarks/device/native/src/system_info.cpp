#include "system_info.h"

#include <dirent.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#ifdef __ANDROID__
#include <sys/system_properties.h>
#endif

namespace elir {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return trim(line);
}

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

// First "key : value" line of /proc/cpuinfo whose key is one of `keys`, in that priority.
std::string cpuinfo_field(std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos && trim(line.substr(0, colon)) == key) return trim(line.substr(colon + 1));
    }
  }
  return "";
}

#ifdef __ANDROID__
std::string prop(const char* name) {
  char value[PROP_VALUE_MAX] = {0};
  __system_property_get(name, value);
  return trim(value);
}
#endif

}  // namespace

DeviceInfo device_info() {
  DeviceInfo d;
  utsname u{};
  uname(&u);
  d.abi = u.machine;
#ifdef __ANDROID__
  d.maker = or_unknown(prop("ro.product.manufacturer"));
  d.model = or_unknown(prop("ro.product.model"));
  // ro.soc.* exist from Android 12; older releases only name the board platform.
  std::string soc = trim(prop("ro.soc.manufacturer") + " " + prop("ro.soc.model"));
  if (soc.empty()) soc = prop("ro.board.platform");
  d.soc = or_unknown(soc);
  d.os = "Android";
  d.os_version = or_unknown(prop("ro.build.version.release") + " (API " + prop("ro.build.version.sdk") + ")");
  d.abi = or_unknown(prop("ro.product.cpu.abi"));
#else
  d.maker = or_unknown(read_first_line("/sys/devices/virtual/dmi/id/sys_vendor"));
  d.model = or_unknown(read_first_line("/sys/devices/virtual/dmi/id/product_name"));
  d.soc = or_unknown(cpuinfo_field({"model name", "Hardware", "cpu model"}));
  d.os = "Linux";
  d.os_version = or_unknown(u.release);
#endif
  return d;
}

ThermalReading thermal_reading() {
  ThermalReading t{"unknown", std::nullopt};
  DIR* dir = opendir("/sys/class/thermal");
  if (!dir) return t;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.rfind("thermal_zone", 0) != 0) continue;
    const std::string text = read_first_line("/sys/class/thermal/" + name + "/temp");
    if (text.empty()) continue;
    char* end = nullptr;
    const long milli = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || milli <= -50000 || milli >= 200000) continue;  // absent or bogus sensors
    const double c = static_cast<double>(milli) / 1000.0;
    if (!t.temp_c || c > *t.temp_c) t.temp_c = c;
  }
  closedir(dir);
  return t;
}

double peak_rss_mb() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) / 1024.0;  // Linux and Android report kilobytes
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace elir
