// Watches the configuration file, the policy files and the files the configuration
// names (TLS certificates, keys and client CAs) (reload.watch) with inotify
// and calls `on_change` once the files have been quiet for `debounce`. Watches the
// directories rather than the files, so editors that save by writing a new file
// and renaming it over the old one (vim, sed -i), and Kubernetes ConfigMap volumes
// (swapping the ..data link), are seen too. Runs on the gateway's control
// io_context; not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/asio.hpp"

namespace sluice::app {

class file_watcher {
 public:
  file_watcher(net::asio::io_context& io, std::chrono::milliseconds debounce,
               std::function<void()> on_change);
  ~file_watcher();
  file_watcher(const file_watcher&) = delete;
  file_watcher& operator=(const file_watcher&) = delete;

  // Replaces the watched set: the config file, the policies path (a directory: every
  // *.yaml in it; or one file), `other_files`, every *.yaml/*.yml in `yaml_dirs` (the
  // rate limit service's configuration), and a ConfigMap's ..data link next to them.
  // Returns false (and watches nothing) when inotify is unavailable.
  bool watch(const std::string& config_path, const std::string& policies_path,
             const std::vector<std::string>& other_files = {},
             const std::vector<std::string>& yaml_dirs = {});

 private:
  void read_events();
  void changed();
  bool relevant(int wd, const std::string& name) const;

  struct watched_dir {
    std::set<std::string> files;  // names of interest in the directory
    bool any_yaml = false;        // a policies directory: every *.yaml / *.yml
  };

  net::asio::posix::stream_descriptor inotify_;
  net::asio::steady_timer debounce_timer_;
  std::chrono::milliseconds debounce_;
  std::function<void()> on_change_;
  std::map<int, watched_dir> dirs_;  // inotify watch descriptor -> what it covers
  std::unique_ptr<char[]> buffer_;
};

}  // namespace sluice::app
