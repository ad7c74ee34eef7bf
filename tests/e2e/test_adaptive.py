"""Load-aware limits (issue 15, `adaptive:`): a slow upstream protected automatically.

Steady load through a 40/s limit with `adaptive: { signal: upstream_latency, target: 50ms,
min_factor: 0.25 }`; the upstream then answers in 200 ms (Upstream.slowdown_ms) and later
recovers. The effective limit (X-RateLimit-Limit, the rate_limit_adaptive_factor gauge)
drops within a few seconds of the slowdown, never below 0.25 x 40, and returns to 40 after
recovery. With two gateways on one redis-server, the slowdown seen by one lowers the
limit of the other, which has no traffic of its own, until Redis goes away. Each test
prints what it measured."""

import threading
import time
import unittest

from harness import Client, GatewayTestCase, admin_get, wait_for
from redis_support import RedisCase

POLICY = {
    'limits': [
        {'name': 'api', 'key': 'global', 'rate': '40/s', 'burst': 40,
         'adaptive': {'signal': 'upstream_latency', 'target': '50ms', 'min_factor': 0.25}},
    ],
}
FULL, FLOOR = 40, 10


class Load:
    """`connections` keep-alive clients sending requests back to back until stop();
    records (time, status, X-RateLimit-Limit) of every answer."""

    def __init__(self, port, connections=8):
        self.port = port
        self.answers = []
        self.lock = threading.Lock()
        self.running = True
        self.errors = []
        self.threads = [threading.Thread(target=self._run) for _ in range(connections)]
        for t in self.threads:
            t.start()

    def _run(self):
        try:
            with Client(self.port) as c:
                while self.running:
                    r = c.get('/a')
                    with self.lock:
                        self.answers.append((time.monotonic(), r.status,
                                             int(r.header('X-RateLimit-Limit'))))
                    if r.status == 429:
                        time.sleep(0.005)  # a client backing off a little, not spinning
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.errors.append(e)

    def between(self, start, end):
        with self.lock:
            return [a for a in self.answers if start <= a[0] < end]

    def admitted_per_second(self, start, end):
        return sum(1 for a in self.between(start, end) if a[1] == 200) / (end - start)

    def limit_now(self):
        with self.lock:
            return self.answers[-1][2] if self.answers else None

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(30)
        if self.errors:
            raise self.errors[0]


class SlowUpstream(GatewayTestCase):
    def test_a_slow_upstream_lowers_the_limit_and_recovery_restores_it(self):
        self.start_sluice({}, POLICY)
        upstream = self.upstream
        load = Load(self.sluice.port)
        self.addCleanup(lambda: load.running and load.stop())
        t0 = time.monotonic()
        time.sleep(2)
        self.assertEqual(load.limit_now(), FULL)

        slow = time.monotonic()
        upstream.slowdown_ms = 200
        wait_for(lambda: load.limit_now() == FLOOR, timeout=5, interval=0.02,
                 message='the limit at its floor')
        reacted = time.monotonic() - slow
        gauge = self.metrics().value('rate_limit_adaptive_factor', limit='api')
        self.assertEqual(gauge, 0.25)
        time.sleep(1.5)

        recover = time.monotonic()
        upstream.slowdown_ms = 0
        wait_for(lambda: load.limit_now() == FULL, timeout=8, interval=0.02,
                 message='the full limit again')
        recovered = time.monotonic() - recover
        time.sleep(1)
        end = time.monotonic()
        load.stop()

        limits = [a[2] for a in load.between(t0, end)]
        self.assertGreaterEqual(min(limits), FLOOR)  # never below min_factor x limit
        self.assertLess(reacted, 3)
        self.assertLess(recovered, 6)
        before = load.admitted_per_second(t0 + 1, slow)
        during = load.admitted_per_second(slow + reacted + 0.5, recover)
        after = load.admitted_per_second(recover + recovered, end)
        self.assertLess(during, 0.5 * before)
        self.assertGreater(after, 0.7 * before)
        self.assertEqual(self.metrics().value('rate_limit_adaptive_factor', limit='api'), 1)
        self.assertIn("adaptive: limit 'api' now at factor 0.25", self.sluice.stderr())
        print('\nadaptive: admitted/s before %.1f, during the slowdown %.1f, after %.1f; '
              'reacted in %.2f s, recovered in %.2f s' % (before, during, after, reacted, recovered))


class AdaptiveConfig(GatewayTestCase):
    def test_admin_config_shows_adaptive_as_written(self):
        policy = {'limits': [
            dict(POLICY['limits'][0]),
            {'name': 'errors', 'key': 'ip', 'rate': '10/s',
             'adaptive': {'signal': 'upstream_errors', 'target': 0.05, 'max_factor': 0.9}},
            {'name': 'inflight', 'key': 'ip', 'rate': '10/s',
             'adaptive': {'signal': 'upstream_inflight', 'target': 32}},
        ]}
        self.start_sluice({}, policy)
        config = admin_get(self.sluice.admin_port, '/admin/config').json()
        self.assertEqual([l['adaptive'] for l in config['policy']['limits']], [
            {'signal': 'upstream_latency', 'target': '50ms', 'min_factor': 0.25,
             'max_factor': 1.0},
            {'signal': 'upstream_errors', 'target': 0.05, 'min_factor': 0.25, 'max_factor': 0.9},
            {'signal': 'upstream_inflight', 'target': 32, 'min_factor': 0.25, 'max_factor': 1.0},
        ])


class FleetFactor(RedisCase):
    def test_the_slowdown_seen_by_one_gateway_lowers_the_others_limit(self):
        redis = self.start_redis()
        a = self.start_gateway(redis, POLICY)
        b = self.start_gateway(redis, POLICY)
        self.upstream.slowdown_ms = 200
        load = Load(a.port, connections=6)
        self.addCleanup(lambda: load.running and load.stop())
        started = time.monotonic()
        # b has no traffic: its own factor stays 1; the fleet's lowest fresh one applies.
        wait_for(lambda: b.metrics().value('rate_limit_adaptive_factor', limit='api') == 0.25,
                 timeout=6, interval=0.05, message="a's factor on gateway b")
        took = time.monotonic() - started
        load.stop()
        self.upstream.slowdown_ms = 0
        with Client(b.port) as c:
            self.assertEqual(c.get('/b').header('X-RateLimit-Limit'), str(FLOOR))
        # Redis gone: the fleet's factor cannot be known fresh, b applies its own (1.0).
        redis.stop()
        wait_for(lambda: b.metrics().value('rate_limit_adaptive_factor', limit='api') == 1,
                 timeout=5, interval=0.05, message="b's own factor with Redis down")
        print('\nadaptive fleet: gateway b at factor 0.25 %.2f s after a saw the slowdown' % took)


if __name__ == '__main__':
    unittest.main()
