// A certificate authority made for one test with the openssl command-line tool (the real
// thing, no canned keys): ca.pem/ca.key in a fresh temporary directory, and leaf
// certificates it signs on demand (EC P-256, valid for a day from now). Removed with
// the object. Test-only; not thread-safe.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace sluice::test {

class test_ca {
 public:
  test_ca() {
    char pattern[] = "/tmp/sluice-ca-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj '/CN=Sluice Test CA' -keyout ca.key -out ca.pem");
  }
  ~test_ca() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  test_ca(const test_ca&) = delete;
  test_ca& operator=(const test_ca&) = delete;

  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  std::string ca() const { return path("ca.pem"); }

  // Signs <name>.pem / <name>.key with subject CN `common_name` (none when empty) and
  // subjectAltName `san` (e.g. "DNS:a.test"; none when empty).
  void issue(const std::string& name, const std::string& common_name, const std::string& san) {
    const std::string subject = common_name.empty() ? "/O=Sluice tests" : "/CN=" + common_name;
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '" + subject +
        "' -keyout " + name + ".key -out " + name + ".csr");
    std::string ext;
    if (!san.empty()) {
      std::ofstream(path(name + ".ext")) << "subjectAltName=" << san << "\n";
      ext = " -extfile " + name + ".ext";
    }
    run("openssl x509 -req -in " + name +
        ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
        "-out " +
        name + ".pem" + ext);
  }

 private:
  void run(const std::string& command) const {
    const std::string line = "cd '" + dir_ + "' && " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }

  std::string dir_;
};

}  // namespace sluice::test
