-- The end of the Functions library (FUNCTION LOAD, Redis >= 7.0): registers decide()
-- and refund() of decide.lua, once, as the library's three functions.
-- redis/decide_script.cpp puts a `#!lua name=` line naming the library before the
-- files, and names the library and these functions sluice_<the first 8 hex digits of
-- the SHA1 of the whole text, taken with a placeholder where the name goes>: each
-- Sluice version calls its own code on a Redis it shares with another version (a
-- rolling upgrade).
redis.register_function('@LIBRARY@_decide', function(keys, args)
  return decide(keys, args, false)
end)
-- Peeks (the admin API) write nothing, so they may run on a replica with FCALL_RO.
redis.register_function{
  function_name = '@LIBRARY@_peek',
  callback = function(keys, args) return decide(keys, args, true) end,
  flags = { 'no-writes' },
}
-- The compensating call of a request whose keys span Redis Cluster slots (it writes).
redis.register_function('@LIBRARY@_refund', function(keys, args)
  return refund(keys, args)
end)
