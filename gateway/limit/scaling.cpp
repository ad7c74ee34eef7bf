#include "limit/scaling.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace sluice::limit {

void scaling_sources::add(const scaling_source* source) {
  if (count_ == max_sources) throw std::logic_error("too many scaling sources");
  sources_[count_++] = source;
}

double scaling_sources::factor(const scaling_query& q) const {
  double f = 1.0;
  for (std::size_t i = 0; i < count_; ++i) f *= sources_[i]->factor(q);
  return f;
}

namespace {

std::int64_t scale_count(std::int64_t n, double factor) {
  const double v = std::llround(static_cast<double>(n) * factor);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(v));
}

}  // namespace

limit_params scaled(const limit_params& p, double factor) {
  if (!(factor < 1.0) || !(factor > 0.0)) return p;  // NaN and >= 1: as configured
  const bool bucket = p.algo == algorithm::token_bucket || p.algo == algorithm::leaky_bucket;
  limit_params s = limit_params::make(p.algo, scale_count(p.count, factor), p.period,
                                      bucket ? scale_count(p.burst, factor) : 0, p.max_delay);
  s.origin = p.origin;  // a calendar period's window (config/calendar.hpp) stays where it is
  s.calendar = p.calendar;
  return s.exact() ? s : p;
}

}  // namespace sluice::limit
