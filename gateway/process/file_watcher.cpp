#include "process/file_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

namespace sluice::app {
namespace {

constexpr std::size_t event_buffer_size = 16 * 1024;
constexpr std::uint32_t watch_mask =
    IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB;

// The names the loader reads from a policies directory (config/loader.cpp).
bool is_yaml(const std::string& name) {
  return name.ends_with(".yaml") && !name.starts_with(".");
}

// A Kubernetes ConfigMap volume updates every file at once by swapping this link
// (<dir>/<file> -> ..data/<file>); the files' own names see no event.
constexpr std::string_view configmap_link = "..data";

}  // namespace

file_watcher::file_watcher(net::asio::io_context& io, std::chrono::milliseconds debounce,
                           std::function<void()> on_change)
    : inotify_(io),
      debounce_timer_(io),
      debounce_(debounce),
      on_change_(std::move(on_change)),
      buffer_(new char[event_buffer_size]) {}

file_watcher::~file_watcher() {
  net::error_code ec;
  inotify_.close(ec);
}

bool file_watcher::watch(const std::string& config_path, const std::string& policies_path,
                         const std::vector<std::string>& other_files,
                         const std::vector<std::string>& yaml_dirs) {
  namespace fs = std::filesystem;
  // One inotify instance for the watcher's life: re-creating it at every reload would
  // drop the events queued meanwhile (a file saved while a reload runs).
  if (!inotify_.is_open()) {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return false;
    inotify_.assign(fd);
    read_events();
  }
  const int fd = inotify_.native_handle();

  // Several files of interest may share a directory (config.yaml next to a
  // single policy file): one watch per directory, with every name it covers.
  std::map<int, watched_dir> next;
  auto add = [&](const fs::path& dir, const std::string& file) {
    const std::string d = dir.empty() ? std::string(".") : dir.string();
    const int wd = ::inotify_add_watch(fd, d.c_str(), watch_mask);
    if (wd < 0) return;
    watched_dir& w = next[wd];
    if (file.empty()) {
      w.any_yaml = true;
    } else {
      w.files.insert(file);
    }
  };
  const fs::path config(config_path);
  add(config.parent_path(), config.filename().string());
  const fs::path policies(policies_path);
  std::error_code fec;
  if (fs::is_directory(policies, fec)) {
    add(policies, "");
  } else {
    add(policies.parent_path(), policies.filename().string());
  }
  for (const auto& file : other_files) {
    const fs::path path(file);
    add(path.parent_path(), path.filename().string());
  }
  for (const auto& dir : yaml_dirs) add(fs::path(dir), "");
  // Re-adding a directory keeps its descriptor; drop those no longer of interest.
  for (const auto& [wd, dir] : dirs_) {
    if (!next.contains(wd)) ::inotify_rm_watch(fd, wd);
  }
  dirs_ = std::move(next);
  return true;
}

bool file_watcher::relevant(int wd, const std::string& name) const {
  auto it = dirs_.find(wd);
  if (it == dirs_.end()) return false;
  return it->second.files.contains(name) || (it->second.any_yaml && is_yaml(name)) ||
         name == configmap_link;
}

void file_watcher::read_events() {
  inotify_.async_read_some(
      net::asio::buffer(buffer_.get(), event_buffer_size),
      [this](const net::error_code& ec, std::size_t n) {
        if (ec) return;  // closed by watch() or the destructor
        bool any = false;
        for (std::size_t offset = 0; offset + sizeof(inotify_event) <= n;) {
          const auto* event = reinterpret_cast<const inotify_event*>(buffer_.get() + offset);
          const std::string name = event->len > 0 ? std::string(event->name) : std::string();
          if (relevant(event->wd, name)) any = true;
          offset += sizeof(inotify_event) + event->len;
        }
        if (any) changed();
        read_events();
      });
}

void file_watcher::changed() {
  // Restart the quiet period on every event: an editor's save is several events.
  debounce_timer_.expires_after(debounce_);
  debounce_timer_.async_wait([this](const net::error_code& ec) {
    if (!ec) on_change_();
  });
}

}  // namespace sluice::app
