"""Redis loss and recovery (SPEC 7, 11): Redis killed mid-traffic under each
storage.on_error mode (local keeps limiting in memory, allow lets traffic through
without rate-limit headers, deny answers 503 storage_unavailable and /readyz 503);
no request waits for Redis once it is known down; errors and the degraded gauge
are exported and logged; a Redis restarted empty on the same port is picked up by
itself (the function library loaded again) and the gateways share limits again. A hung
Redis (SIGSTOP) costs at most a few timeouts."""

import signal
import threading
import time
import unittest

from harness import admin_get, free_port, request, wait_for
from redis_support import (RedisCase, commandstats, percentile, rate_limit_headers, redis_call,
                           redis_state, storage_metrics, timed_requests)

# Five requests per API key, then 429 (the key is fresh in every phase).
POLICY = {'limits': [{'name': 'per-key', 'key': 'api_key', 'rate': '1/1h', 'burst': 5}]}

TIMEOUT_S = 0.025  # storage.redis.timeout
# Seen by a Python client on a loaded 2-core machine: bounds with room for scheduling
# noise. The gateway's own decision times (the histogram) are held much tighter.
CLIENT_MAX_S = 10 * TIMEOUT_S
CLIENT_P99_S = 4 * TIMEOUT_S


def key(name):
    return {'X-API-Key': name}


def slow_checks(gateway, slower_than='0.01'):
    """Decisions that took longer than `slower_than` seconds, from the
    rate_limit_check_duration_seconds{backend="redis"} histogram."""
    m = gateway.metrics()
    total = m.total('rate_limit_check_duration_seconds_count', backend='redis')
    fast = m.total('rate_limit_check_duration_seconds_bucket', backend='redis', le=slower_than)
    return total - fast


class Background:
    """Requests sent continuously on one connection (a fresh key each) until stop()."""

    def __init__(self, port):
        self.port = port
        self.results = []  # (started, seconds, status)
        self.running = True
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        n = 0
        while self.running:
            n += 1
            started = time.monotonic()
            status = request(self.port, 'GET', '/bg', headers=key('bg-%d' % n)).status
            self.results.append((started, time.monotonic() - started, status))

    def stop(self):
        self.running = False
        self.thread.join(10)
        return self.results


class Outage(RedisCase):
    def shared_requests(self, a, b, name):
        """Three requests through each gateway with one key: shared limits admit five."""
        return ([request(a.port, 'GET', '/s', headers=key(name)).status for _ in range(3)] +
                [request(b.port, 'GET', '/s', headers=key(name)).status for _ in range(3)])

    def outage(self, on_error):
        redis = self.start_redis()
        upstream = self.start_fast_upstream().url
        a = self.start_gateway(redis, POLICY, on_error, upstream_url=upstream)
        b = self.start_gateway(redis, POLICY, on_error, upstream_url=upstream)
        self.assertEqual(self.shared_requests(a, b, 'before'), [200] * 5 + [429])
        errors_before, _ = storage_metrics(a)

        # Killed mid-traffic.
        background = Background(a.port)
        time.sleep(0.2)
        killed = time.monotonic()
        self.kill_redis(redis)
        time.sleep(0.5)
        during = [r for r in background.stop() if r[0] >= killed]
        self.assertGreater(len(during), 10)
        self.assertLess(max(seconds for _, seconds, _ in during), CLIENT_MAX_S)
        # Known down: decisions no longer touch Redis at all.
        slow_before = slow_checks(a, '0.005')
        results = timed_requests(a.port, 8, 25, '/m', lambda n, i: key('%s-%d' % (on_error, n)))
        latencies = [seconds for _, seconds, _ in results]
        self.report(on_error, 'down', latencies)
        self.assertLess(max(latencies), CLIENT_MAX_S)
        self.assertLess(percentile(latencies, 0.99), CLIENT_P99_S)
        self.assertEqual(slow_checks(a, '0.005'), slow_before)

        errors, degraded = storage_metrics(a)
        self.assertGreater(errors, errors_before)
        self.assertEqual(degraded, 1)
        self.assertIn('redis unavailable', a.stderr())
        self.assertIn('storage.on_error=' + on_error, a.stderr())
        storage = admin_get(a.admin_port, '/admin/stats').json()['storage']
        self.assertEqual((storage['degraded'], storage['reachable']), (True, False))

        # Restarted empty on the same port: picked up without help.
        restarted = time.monotonic()
        redis = self.restart_redis(redis)
        wait_for(lambda: storage_metrics(a)[1] == 0, timeout=5, interval=0.02,
                 message='gateway a to leave degraded mode')
        recovery = time.monotonic() - restarted
        self.report(on_error, 'recovered in %.0f ms' % (recovery * 1000))
        self.assertLess(recovery, 2.5)
        self.assertIn('redis reachable again', a.stderr())
        wait_for(lambda: admin_get(b.admin_port, '/admin/stats').json()['storage']['reachable'],
                 timeout=5, message='gateway b to reconnect')
        self.assertEqual(self.shared_requests(a, b, 'after'), [200] * 5 + [429])
        self.assertIn('sluice:per-key:after', redis_state(redis.port))
        # The new server had no library: a gateway loaded it again, and no request failed.
        self.assertGreaterEqual(commandstats(redis.port).get('function|load', 0), 1)
        self.assertEqual(len(redis_call(redis.port, 'FUNCTION', 'LIST')), 1)
        self.assertEqual(storage_metrics(a)[1], 0)
        return a, results

    @staticmethod
    def report(mode, what, latencies=None):
        if latencies is None:
            print('  [on_error=%s] %s' % (mode, what))
        else:
            print('  [on_error=%s] redis %s: %d requests, p50 %.1f ms, p99 %.1f ms, max %.1f ms'
                  % (mode, what, len(latencies), percentile(latencies, 0.5) * 1000,
                     percentile(latencies, 0.99) * 1000, max(latencies) * 1000))

    def test_local_keeps_limiting_in_memory(self):
        _, results = self.outage('local')
        for status, _, r in results:
            self.assertTrue(rate_limit_headers(r), r)
        statuses = [status for status, _, _ in results]
        # Eight keys, 25 requests each: five admitted per key by the local engine.
        self.assertEqual(statuses.count(200), 8 * 5)
        self.assertEqual(statuses.count(429), 8 * 20)

    def test_allow_lets_traffic_through_without_rate_limit_headers(self):
        _, results = self.outage('allow')
        for status, _, r in results:
            self.assertEqual(status, 200, r)
            self.assertEqual(rate_limit_headers(r), [], r)

    def test_deny_answers_503_storage_unavailable(self):
        a, results = self.outage('deny')
        for status, _, r in results:
            error = self.assertErrorBody(r, 503, 'storage_unavailable')
            self.assertEqual(set(error), {'code', 'message'})
            self.assertTrue(r.header('Retry-After').isdigit(), r)
        self.assertEqual(admin_get(a.admin_port, '/readyz').status, 200)

    def test_deny_makes_readyz_fail_while_redis_is_down(self):
        redis = self.start_redis()
        a = self.start_gateway(redis, POLICY, 'deny')
        self.assertEqual(admin_get(a.admin_port, '/readyz').status, 200)
        self.kill_redis(redis)
        # Known down at once (the connections drop), before any request fails.
        wait_for(lambda: admin_get(a.admin_port, '/readyz').status == 503, timeout=2,
                 message='/readyz 503')
        r = request(a.port, 'GET', '/x', headers=key('k'))
        self.assertErrorBody(r, 503, 'storage_unavailable')
        self.restart_redis(redis)
        wait_for(lambda: admin_get(a.admin_port, '/readyz').status == 200, timeout=5,
                 message='/readyz 200 again')
        self.assertEqual(request(a.port, 'GET', '/x', headers=key('k')).status, 200)


class ErrorReplies(RedisCase):
    def test_a_redis_that_answers_with_errors_stays_degraded_until_decisions_succeed(self):
        # A failover left the address on a read-only replica: PING answers, every
        # decision (a script that writes) gets an error reply.
        redis = self.start_redis()
        a = self.start_gateway(redis, POLICY, 'local', upstream_url=self.start_fast_upstream().url)
        self.assertEqual(redis_call(redis.port, 'REPLICAOF', '127.0.0.1', str(free_port())), 'OK')
        statuses, gauge = [], []
        started = time.monotonic()
        while time.monotonic() - started < 1.5:
            statuses.append(request(a.port, 'GET', '/x', headers=key('ro')).status)
            gauge.append(storage_metrics(a)[1])
            time.sleep(0.02)
        # Decided by the local engine throughout; degraded from the third failure on,
        # without flapping back every time the probe's PING would have answered.
        self.assertEqual(statuses, [200] * 5 + [429] * (len(statuses) - 5))
        first = gauge.index(1)
        self.assertLessEqual(first, 3)
        self.assertEqual(gauge[first:], [1] * (len(gauge) - first), gauge)
        self.assertEqual(a.stderr().count('redis unavailable'), 1, a.stderr())
        self.assertNotIn('reachable again', a.stderr())
        self.assertIn('READONLY', a.stderr())

        self.assertEqual(redis_call(redis.port, 'REPLICAOF', 'NO', 'ONE'), 'OK')
        wait_for(lambda: storage_metrics(a)[1] == 0, timeout=3, message='recovery')
        self.assertEqual(a.stderr().count('reachable again'), 1)
        r = request(a.port, 'GET', '/x', headers=key('rw'))
        self.assertEqual(r.header('X-RateLimit-Remaining'), '4')
        self.assertIn('sluice:per-key:rw', redis_state(redis.port))


class HungRedis(RedisCase):
    def test_a_stopped_redis_costs_a_few_timeouts_then_none(self):
        redis = self.start_redis()
        # Resumed before the harness stops it, even when the test fails.
        self.addCleanup(lambda: redis.running() and redis.process.send_signal(signal.SIGCONT))
        a = self.start_gateway(redis, POLICY, 'local', upstream_url=self.start_fast_upstream().url)
        self.assertEqual(request(a.port, 'GET', '/x', headers=key('warm')).status, 200)

        redis.process.send_signal(signal.SIGSTOP)
        results = timed_requests(a.port, 8, 25, '/m', lambda n, i: key('hung-%d' % n))
        latencies = [seconds for _, seconds, _ in results]
        Outage.report('local', 'hung', latencies)
        self.assertLess(max(latencies), CLIENT_MAX_S)
        statuses = [status for status, _, _ in results]
        self.assertEqual(statuses.count(200), 8 * 5)
        # Only the requests in flight before Redis was known down waited for it, and
        # none for longer than twice the timeout.
        waited = slow_checks(a)
        self.assertGreaterEqual(waited, 3)
        self.assertLessEqual(waited, 16)
        self.assertEqual(slow_checks(a, '0.05'), 0)
        self.assertEqual(storage_metrics(a)[1], 1)

        more = timed_requests(a.port, 8, 10, '/m', lambda n, i: key('more-%d' % n))
        self.assertEqual(slow_checks(a), waited)
        self.assertLess(max(seconds for _, seconds, _ in more), CLIENT_MAX_S)

        resumed = time.monotonic()
        redis.process.send_signal(signal.SIGCONT)
        wait_for(lambda: storage_metrics(a)[1] == 0, timeout=3, interval=0.02,
                 message='recovery after SIGCONT')
        Outage.report('local', 'resumed; recovered in %.0f ms'
                      % ((time.monotonic() - resumed) * 1000))
        self.assertEqual(request(a.port, 'GET', '/x', headers=key('warm')).status, 200)
        self.assertIn('redis reachable again', a.stderr())


if __name__ == '__main__':
    unittest.main()
