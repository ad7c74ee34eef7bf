"""Soft limits (issue 15, "degrade before reject"): past a limit's `soft:` share or count,
admitted requests reach the upstream with `X-RateLimit-Degraded: <limit names>`; past
the hard limit they get a 429 as before. The client sees only the usual headers, the
metric rate_limit_degraded_total{scope} counts, and a client's own X-RateLimit-Degraded
never reaches the upstream. The same with the memory and the Redis backend."""

import unittest

from harness import Client, GatewayTestCase, admin_get
from redis_support import RedisCase

# Nothing refills during a test (token buckets of 1/1h per unit, an hour-long log).
POLICY = {
    'routes': [
        {'name': 'single', 'match': '/single/**'},
        {'name': 'both', 'match': '/both/**'},
    ],
    'limits': [
        # 10 units, soft at 80%: requests 1-8 plain, 9-10 degraded, 11 a 429.
        {'name': 'per-ip', 'key': 'ip', 'rate': '10/1h', 'burst': 10, 'soft': '80%',
         'routes': ['single']},
        # A shadow limit with soft: counted in the metric, never named to the upstream.
        {'name': 'watch', 'key': 'ip', 'rate': '2/1h', 'burst': 2, 'soft': 1, 'shadow': True,
         'routes': ['single']},
        # Two limits: a past 3 of 10, b past 4 of 6 (a window algorithm), b denies the 7th.
        {'name': 'a', 'key': ['ip', 'route'], 'rate': '10/1h', 'burst': 10, 'soft': 3,
         'routes': ['both']},
        {'name': 'b', 'key': ['ip', 'route'], 'algorithm': 'sliding_log', 'rate': '6/1h',
         'soft': 4, 'routes': ['both']},
    ],
}

FIELD = 'X-RateLimit-Degraded'


class SoftLimitChecks:
    """The checks, against self.sluice and self.upstream (set up by the backend's case)."""

    def send(self, path, n, headers=None):
        """n requests on one connection: [(status, what the upstream got or None)]."""
        out = []
        with Client(self.sluice.port) as c:
            for _ in range(n):
                before = self.upstream.count
                response = c.get(path, headers)
                self.assertFalse(response.has_header(FIELD), response)
                got = None
                if response.status == 200:
                    self.assertEqual(self.upstream.count, before + 1)
                    got = self.upstream.last().header_values(FIELD)
                else:
                    self.assertEqual(self.upstream.count, before, 'a 429 reached the upstream')
                out.append((response.status, got, response))
        return out

    def test_past_the_soft_share_forwarded_degraded_then_429(self):
        results = self.send('/single/x', 11)
        self.assertEqual([(s, g) for s, g, _ in results],
                         [(200, [])] * 8 + [(200, ['per-ip'])] * 2 + [(429, None)])
        # The client sees the usual headers, counted down to the hard limit.
        self.assertEqual([r.header('X-RateLimit-Remaining') for _, _, r in results],
                         [str(n) for n in range(9, -1, -1)] + ['0'])
        m = self.sluice.metrics()
        self.assertEqual(m.value('rate_limit_degraded_total', scope='per-ip'), 2)
        # The shadow limit went past its soft count once (request 2; from request 3 on it
        # would deny): counted, and never named to the upstream.
        self.assertEqual(m.value('rate_limit_degraded_total', scope='watch'), 1)
        self.assertEqual(m.value('rate_limit_degraded_total', scope='a'), 0)

    def test_several_degraded_limits_in_one_field(self):
        results = self.send('/both/x', 7)
        self.assertEqual([(s, g) for s, g, _ in results],
                         [(200, [])] * 3 + [(200, ['a'])] + [(200, ['a, b'])] * 2 +
                         [(429, None)])
        m = self.sluice.metrics()
        self.assertEqual(m.value('rate_limit_degraded_total', scope='a'), 3)
        self.assertEqual(m.value('rate_limit_degraded_total', scope='b'), 2)
        # The access log names them too (requests 4-6; none for the 429).
        log = self.sluice.access_log(wait_for_lines=7)
        self.assertEqual([e.get('degraded') for e in log[-7:]],
                         [None] * 3 + ['a', 'a, b', 'a, b', None])

    def test_a_clients_degraded_field_never_reaches_the_upstream(self):
        forged = {FIELD: 'forged', 'x-ratelimit-degraded': 'also forged'}
        results = self.send('/single/y', 10, forged)
        self.assertEqual([g for _, g, _ in results], [[]] * 8 + [['per-ip']] * 2)
        self.assertEqual(self.sluice.metrics().value('rate_limit_degraded_total', scope='per-ip'),
                         2)


class SoftLimitsMemory(SoftLimitChecks, GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice(policy=POLICY)

    def test_admin_config_shows_soft_as_written(self):
        limits = admin_get(self.sluice.admin_port, '/admin/config').json()['policy']['limits']
        self.assertEqual([l.get('soft') for l in limits], ['80%', '1', '3', '4'])


class SoftLimitsRedis(SoftLimitChecks, RedisCase):
    def setUp(self):
        super().setUp()
        self.start_upstream()
        redis = self.start_redis()
        # A generous deadline: a slow (sanitizer) build must not fall back to local decisions.
        self.sluice = self.start_gateway(redis, POLICY,
                                         overrides={'storage': {'redis': {'timeout': '1s'}}})

    def test_decided_in_redis(self):
        self.send('/single/z', 3)
        m = self.sluice.metrics()
        self.assertGreater(m.total('rate_limit_check_duration_seconds_count', backend='redis'), 0)
        self.assertEqual(m.total('rate_limit_storage_errors_total', backend='redis'), 0)


if __name__ == '__main__':
    unittest.main()
