// `shards: N` on a limit (README "Policies"): the limit's budget split over N sub-keys,
// so that a key every client shares (`global`) is not one hot key on one Redis Cluster
// shard. Sub-key i of key text K is "K#<j>" (append_shard_suffix), j = sub_key_number():
// one suffix, after the last '#', so two keys of one limit never share a sub-key. Each
// request charges the sub-key its client hashes to (shard_of_client), and sub-key i
// holds shard_share() of the rate count and of the burst: the shares add up to exactly
// the configured numbers, so the sub-keys together never admit more than the limit; a
// client may be denied while another sub-key still has room. Pure functions;
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "limit/algorithms/decision.hpp"

namespace sluice::limit {

// shard_share(total, shards, index): config/limit_params.hpp.

// The parameters of sub-key `index` of a limit whose whole budget is `full`: its count
// and burst split by shard_share(); period and max_delay as they are.
limit_params shard_params(const limit_params& full, int shards, int index);

// The sub-key a client charges, in [0, shards): a hash of `client` (the `client` key
// part's text: "user:<user>", else "key:<api key>", else "ip:<address>") with a fixed
// seed, the same on every gateway and every run, so a client charges the same sub-key
// whichever gateway it reaches, before and after a restart.
int shard_of_client(std::string_view client, int shards);

// The number j of sub-key `shard` of key text `key` ("<key>#<j>"): the smallest j >= 0
// whose Redis Cluster slot, crc16("<key>#<j>") % 16384 (the sub-key is the hash tag of
// its Redis key), lies in the shard-th of `shards` equal slot ranges. So the N sub-keys
// of any key land on N different slots spread evenly over the slot space, and masters
// owning equal slot ranges (redis-cli --cluster create) get N / masters of them each,
// give or take one. A fixed function of the key: every gateway agrees. About N CRC
// steps of 1-2 bytes per call.
int sub_key_number(std::string_view key, int shard, int shards);

// Appends "#<j>" to the key text that ends `keys` and starts at `key_begin` (a buffer
// may hold several keys), j = sub_key_number(that key, shard, shards).
void append_shard_suffix(std::string& keys, std::size_t key_begin, int shard, int shards);

}  // namespace sluice::limit
