#include "redis/reply.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
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

// hiredis calls these while parsing. A child lives in its parent's elements (sized
// when the array header was read, so the pointers stay valid); the root lives in
// the parser (task->privdata). hiredis is C: nothing may throw through it, so an
// allocation failure returns nullptr, which the reader reports as out of memory.
reply* slot_for(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto* parent = static_cast<reply*>(task->parent->obj);
    return &parent->elements[static_cast<std::size_t>(task->idx)];
  }
  return static_cast<reply*>(task->privdata);
}

void* create_string(const redisReadTask* task, char* str, size_t len) {
  reply* r = slot_for(task);
  r->type = task->type == REDIS_REPLY_ERROR    ? reply::kind::error
            : task->type == REDIS_REPLY_STATUS ? reply::kind::status
                                               : reply::kind::string;
  try {
    r->text.assign(str, len);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  reply* r = slot_for(task);
  r->type = reply::kind::array;
  try {
    r->elements.resize(static_cast<std::size_t>(elements));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  reply* r = slot_for(task);
  r->type = reply::kind::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  reply* r = slot_for(task);
  r->type = reply::kind::nil;
  return r;
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

reply_parser::reply_parser() {
  reset();
}

reply_parser::~reply_parser() {
  if (reader_ != nullptr) redisReaderFree(reader_);
}

void reply_parser::reset() {
  if (reader_ != nullptr) redisReaderFree(reader_);
  root_ = reply{};
  reader_ = redisReaderCreateWithFunctions(&reply_functions);
  if (reader_ == nullptr) throw std::bad_alloc();
  reader_->privdata = &root_;
}

bool reply_parser::feed(const char* data, std::size_t size) {
  return redisReaderFeed(reader_, data, size) == REDIS_OK;
}

reply_parser::status reply_parser::next(reply& out) {
  void* obj = nullptr;
  if (redisReaderGetReply(reader_, &obj) != REDIS_OK) return status::protocol_error;
  if (obj == nullptr) return status::incomplete;
  out = std::move(root_);
  root_ = reply{};
  return status::ready;
}

std::string_view reply_parser::error() const {
  return reader_->err != 0 ? std::string_view(reader_->errstr) : std::string_view();
}

}  // namespace sluice::redis
