#include "rls/json.hpp"

#include <google/protobuf/util/json_util.h>

namespace sluice::rls {

std::optional<std::string> read_json_request(std::string_view body, pb::RateLimitRequest& out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is a mistake, not a default
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &out, options);
  if (status.ok()) return std::nullopt;
  return std::string(status.message());
}

std::string json_response(const pb::RateLimitResponse& response) {
  std::string out;
  // Conversion fails only for Any fields of unknown types; the response has none.
  (void)google::protobuf::util::MessageToJsonString(response, &out);
  return out;
}

int json_status(const pb::RateLimitResponse& response) {
  return response.overall_code() == pb::RateLimitResponse::OVER_LIMIT ? 429 : 200;
}

}  // namespace sluice::rls
