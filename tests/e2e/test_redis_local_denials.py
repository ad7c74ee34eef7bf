"""Exact local denials of the Redis backend (issue 9 part 3, README "Redis"): a request
Redis would certainly deny is denied by the gateway from what Redis answered before,
with no round trip (INFO commandstats counts none) and the headers Redis would have
given; an admin reset lifts it at once on that gateway and within a control-thread
tick on the others; a reload that changes the limit drops it; local_denials: 0 turns
it off. The exactness proof is the random replay in tests/app/redis_local_denials_test
and tests/limit/denial_cache_test."""

import time
import unittest

from harness import request, wait_for
from redis_support import RedisCase, commandstats, rate_limit_headers

# Two requests an hour per client, then 429 for about half an hour.
TIGHT = {'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '2/1h', 'burst': 2}]}
LOOSER = {'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '2/1h', 'burst': 5}]}
PATIENT = {'storage': {'redis': {'timeout': '1s'}}}


def settle():
    """Waits past the gateways' first control-thread tick (250 ms): its first reading of
    <key_prefix>resets starts the cache over once, which would send one more call."""
    time.sleep(0.4)


def start_early_in_a_second():
    """Waits (at most half a second) until the wall clock is in the first half of a second."""
    fraction = time.time() % 1
    if fraction > 0.5:
        time.sleep(1 - fraction + 0.01)


def decisions(port):
    """Decision calls Redis ran: FCALL (or EVALSHA/EVAL without Functions)."""
    stats = commandstats(port)
    return sum(stats.get(c, 0) for c in ('fcall', 'evalsha', 'eval'))


def local_denials(gateway):
    return gateway.metrics().total('rate_limit_local_denials_total', scope='per-ip')


class LocalDenials(RedisCase):
    def test_denied_requests_cost_redis_no_call_and_keep_redis_headers(self):
        redis = self.start_redis()
        cached = self.start_gateway(redis, TIGHT, overrides=PATIENT)
        # The same traffic through a gateway without the cache, on its own keys.
        plain = self.start_gateway(redis, TIGHT, prefix='plain:',
                                   overrides={'storage': {'redis': {'timeout': '1s',
                                                                    'local_denials': 0}}})
        settle()
        # X-RateLimit-Reset is the second the bucket is full again, counted from each
        # gateway's own admissions: prime both early in one second, so that both resets
        # round up to the same second.
        start_early_in_a_second()
        for g in (cached, plain):
            self.assertEqual([request(g.port, 'GET', '/x').status for _ in range(2)], [200, 200])
        before = decisions(redis.port)
        statuses = [request(cached.port, 'GET', '/x').status for _ in range(20)]
        self.assertEqual(statuses, [429] * 20)
        # The second admission showed the bucket empty: not one of the 20 reached Redis.
        self.assertEqual(decisions(redis.port) - before, 0)
        self.assertEqual(local_denials(cached), 20)

        # Headers and body as Redis gives them (same second: Retry-After, resets).
        for _ in range(3):
            a = request(cached.port, 'GET', '/x')
            b = request(plain.port, 'GET', '/x')
            if int(time.time() * 1000) % 1000 > 900:
                continue  # a second boundary may lie between the two
            self.assertEqual(a.status, 429)
            self.assertEqual(rate_limit_headers(a), rate_limit_headers(b))
            self.assertEqual(a.json(), b.json())
        self.assertEqual(local_denials(plain), 0)

    def test_an_admin_reset_lifts_a_local_denial_at_once(self):
        redis = self.start_redis()
        g = self.start_gateway(redis, TIGHT, overrides=PATIENT)
        settle()
        self.assertEqual([request(g.port, 'GET', '/x').status for _ in range(3)],
                         [200, 200, 429])
        self.assertGreater(local_denials(g), 0)
        reset = request(g.admin_port, 'DELETE', '/admin/limits/per-ip/127.0.0.1')
        self.assertEqual(reset.status, 200)
        before = decisions(redis.port)
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)
        self.assertEqual(decisions(redis.port) - before, 1)

    def test_a_reset_on_another_gateway_reaches_this_one_within_a_tick(self):
        redis = self.start_redis()
        a = self.start_gateway(redis, TIGHT, overrides=PATIENT)
        b = self.start_gateway(redis, TIGHT, overrides=PATIENT)
        settle()
        self.assertEqual([request(b.port, 'GET', '/x').status for _ in range(3)],
                         [200, 200, 429])
        denied = local_denials(b)
        self.assertGreater(denied, 0)
        reset = request(a.admin_port, 'DELETE', '/admin/limits/per-ip/127.0.0.1')
        self.assertEqual(reset.status, 200)
        started = time.monotonic()
        # b's control thread reads <key_prefix>resets every 250 ms; until then b may
        # still deny from its cache (a 429 that charges nothing).
        wait_for(lambda: request(b.port, 'GET', '/x').status == 200, timeout=2,
                 message='the reset to reach the other gateway')
        self.assertLess(time.monotonic() - started, 1.0)

    def test_a_reload_that_changes_the_limit_drops_what_was_learnt(self):
        redis = self.start_redis()
        g = self.start_gateway(redis, TIGHT, overrides=PATIENT)
        settle()
        self.assertEqual([request(g.port, 'GET', '/x').status for _ in range(3)],
                         [200, 200, 429])
        denied = local_denials(g)
        g.write_config(policy=LOOSER)
        self.assertTrue(g.reload())
        before = decisions(redis.port)
        # burst 5 now: the 2 tokens taken leave 3. Redis decides (one call).
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)
        self.assertEqual(decisions(redis.port) - before, 1)
        self.assertEqual(local_denials(g), denied)

    def test_local_denials_zero_sends_every_decision(self):
        redis = self.start_redis()
        g = self.start_gateway(redis, TIGHT,
                               overrides={'storage': {'redis': {'timeout': '1s',
                                                                'local_denials': 0}}})
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)  # loads the library
        before = decisions(redis.port)
        statuses = [request(g.port, 'GET', '/x').status for _ in range(10)]
        self.assertEqual(statuses, [200] + [429] * 9)
        self.assertEqual(decisions(redis.port) - before, 10)
        self.assertEqual(local_denials(g), 0)


if __name__ == '__main__':
    unittest.main()
