#include "redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <new>

namespace sluice::redis {

namespace {

template <class Arg>
void append_bulk(std::string& out, const Arg& arg) {
  char digits[24];
  out += '$';
  out.append(digits, std::to_chars(digits, digits + sizeof(digits), arg.size()).ptr);
  out += "\r\n";
  out.append(arg.data(), arg.size());
  out += "\r\n";
}

template <class Range>
void append_array(std::string& out, const Range& args) {
  char digits[24];
  out += '*';
  out.append(digits, std::to_chars(digits, digits + sizeof(digits), args.size()).ptr);
  out += "\r\n";
  for (const auto& a : args) append_bulk(out, a);
}

// hiredis calls these while parsing. A child lives in its parent's elements, which
// grow as children arrive (hiredis creates them in order, 0, 1, ...), not to the
// announced count: a header alone allocates nothing. Growing moves only finished
// siblings; the parent itself and the child being filled stay in place. The root
// lives in the parser (task->privdata). hiredis is C: nothing may throw through it,
// so a failure returns nullptr, which the reader turns into an error.
using detail::reply_build;

reply* slot_for(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto& elements = static_cast<reply*>(task->parent->obj)->elements;
    const auto idx = static_cast<std::size_t>(task->idx);
    if (idx >= elements.size()) elements.resize(idx + 1);
    return &elements[idx];
  }
  return &static_cast<reply_build*>(task->privdata)->root;
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  try {
    reply* r = slot_for(task);
    r->type = task->type == REDIS_REPLY_ERROR    ? reply::kind::error
              : task->type == REDIS_REPLY_STATUS ? reply::kind::status
                                                 : reply::kind::string;
    r->text.assign(str, len);
    return r;
  } catch (const std::exception&) {
    return nullptr;
  }
}

void* create_array(const redisReadTask* task, int elements) {
  auto* build = static_cast<reply_build*>(task->privdata);
  // hiredis 0.14 rejects counts below -1 and above INT_MAX itself; -1 is nil.
  const auto count = static_cast<std::size_t>(elements < 0 ? 0 : elements);
  if (count > build->max_elements - build->elements) {
    build->too_many = true;
    return nullptr;
  }
  build->elements += count;
  try {
    reply* r = slot_for(task);
    r->type = reply::kind::array;
    r->elements.reserve(std::min<std::size_t>(count, 64));
    return r;
  } catch (const std::exception&) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long value) {
  try {
    reply* r = slot_for(task);
    r->type = reply::kind::integer;
    r->integer = value;
    return r;
  } catch (const std::exception&) {
    return nullptr;
  }
}

void* create_nil(const redisReadTask* task) {
  try {
    reply* r = slot_for(task);
    r->type = reply::kind::nil;
    return r;
  } catch (const std::exception&) {
    return nullptr;
  }
}

// Called on the root only (a broken stream, or the reader going away): children
// belong to it.
void free_object(void* obj) {
  *static_cast<reply*>(obj) = reply{};
}

redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer,
                                             create_nil, free_object};

}  // namespace

void append_command(std::string& out, std::span<const std::string> args) {
  append_array(out, args);
}

void append_command(std::string& out, std::span<const std::string_view> args) {
  append_array(out, args);
}

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  append_array(out, args);
}

reply_parser::reply_parser(reply_limits limits) : limits_(limits) {
  reset();
}

reply_parser::~reply_parser() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void reply_parser::reset() {
  if (reader_ != nullptr) redisReaderFree(reader_);
  reader_ = nullptr;
  build_ = detail::reply_build{};
  build_.max_elements = limits_.elements;
  fed_ = 0;
  reply_start_ = 0;
  error_.clear();
  reader_ = redisReaderCreateWithFunctions(&reply_functions);
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->privdata = &build_;
}

bool reply_parser::feed(const char* data, std::size_t size) {
  if (!error_.empty()) return false;
  if (redisReaderFeed(reader_, data, size) != REDIS_OK) return false;
  fed_ += size;
  return true;
}

std::size_t reply_parser::unparsed() const {
  return reader_->len - reader_->pos;
}

reply_parser::status reply_parser::fail(std::string message) {
  error_ = std::move(message);
  // Drops the buffered bytes and the partial tree now, not at the next reset().
  redisReaderFree(reader_);
  reader_ = redisReaderCreateWithFunctions(&reply_functions);
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->privdata = &build_;
  build_.root = reply{};
  return status::protocol_error;
}

reply_parser::status reply_parser::next(reply& out) {
  if (!error_.empty()) return status::protocol_error;
  void* obj = nullptr;
  if (redisReaderGetReply(reader_, &obj) != REDIS_OK) {
    if (build_.too_many) {
      return fail("reply has more than " + std::to_string(limits_.elements) + " array elements");
    }
    return status::protocol_error;
  }
  // Bytes of the current reply: parsed into the tree plus still buffered.
  const std::uint64_t end = obj == nullptr ? fed_ : fed_ - unparsed();
  if (end - reply_start_ > limits_.bytes) {
    return fail("reply larger than " + std::to_string(limits_.bytes) + " bytes");
  }
  if (obj == nullptr) return status::incomplete;
  out = std::move(build_.root);
  build_.root = reply{};
  build_.elements = 0;
  reply_start_ = end;
  return status::ready;
}

std::string_view reply_parser::error() const {
  if (!error_.empty()) return error_;
  return reader_->err != 0 ? std::string_view(reader_->errstr) : std::string_view();
}

}  // namespace sluice::redis
