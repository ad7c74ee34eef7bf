// A gateway I/O thread stand-in for tests: its own io_context on its own thread.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <thread>

namespace sluice::test {

// A gateway I/O thread stand-in: its own io_context on its own thread. Declared
// before the client: the io_contexts a client is given must outlive it.
class io_worker {
 public:
  io_worker() : thread_([this] { io_.run(); }) {}
  ~io_worker() {
    work_.reset();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }
  std::thread::id id() const { return thread_.get_id(); }

  // Runs `fn` on this worker's thread and returns its result.
  template <class Fn>
  auto on_thread(Fn fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

 private:
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      io_.get_executor()};
  std::thread thread_;
};

}  // namespace sluice::test
