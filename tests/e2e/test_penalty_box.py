"""The penalty box (issue 15): a client that keeps hammering past its limit is boxed
(its effective limit, X-RateLimit-Limit, drops to factor x limit) while a well-behaved
client is unaffected; the box shows in /admin/stats and /metrics, DELETE
/admin/penalties/<limit>/<key> removes it; with two gateways sharing one redis-server
a key boxed on one is limited at the reduced limit on the other within about a
second (the control thread's sync), and a removal on one reaches the other."""

import time
import unittest

from harness import GatewayTestCase, avoid_window_edge, request, wait_for
from redis_support import RedisCase, redis_call, stats

# 10 a minute per API key; 20 requests with half of them rejected box the key for 30 s
# at 0.3 (3 a minute).
POLICY = {
    'limits': [
        {'name': 'per-key', 'key': 'api_key', 'algorithm': 'fixed_window', 'rate': '10/min',
         'penalty': {'when': {'rejected_share': 0.5, 'min_requests': 20, 'window': '1m'},
                     'factor': 0.3, 'duration': '30s'}},
    ],
}
ABUSER = {'X-API-Key': 'abuser-key-1'}
POLITE = {'X-API-Key': 'polite-key-2'}


def limit_of(port, headers):
    return request(port, 'GET', '/p', headers=headers).header('X-RateLimit-Limit')


def hammer(port, headers, n=20):
    return [request(port, 'GET', '/p', headers=headers).status for _ in range(n)]


def penalties(port):
    return request(port, 'GET', '/admin/stats').json().get('penalties')


class PenaltyBox(GatewayTestCase):
    def test_an_abusive_client_is_boxed_shown_and_released(self):
        self.start_sluice({}, POLICY)
        avoid_window_edge(60)
        port = self.sluice.port
        statuses = hammer(port, ABUSER)
        self.assertEqual(statuses.count(200), 10)
        self.assertEqual(statuses.count(429), 10)
        # The 20th request (10 of 20 rejected) boxed the key: 0.3 x 10.
        self.assertEqual(limit_of(port, ABUSER), '3')
        self.assertEqual(limit_of(port, POLITE), '10')
        listed = penalties(self.sluice.admin_port)
        self.assertEqual(len(listed), 1, listed)
        self.assertEqual(listed[0]['limit'], 'per-key')
        self.assertTrue(listed[0]['key'].startswith('abus****#'), listed)  # API keys masked
        self.assertAlmostEqual(listed[0]['factor'], 0.3)
        self.assertGreater(listed[0]['remaining_seconds'], 25)
        self.assertLessEqual(listed[0]['remaining_seconds'], 30)
        self.assertAlmostEqual(listed[0]['expires_at'], time.time() + listed[0]['remaining_seconds'],
                               delta=2)
        metrics = self.metrics()
        self.assertEqual(metrics.value('rate_limit_penalties_total', limit='per-key'), 1)
        wait_for(lambda: self.metrics().value('rate_limit_penalized_keys', limit='per-key') == 1,
                 timeout=3, message='the boxed-keys gauge')
        self.assertNotIn('abuser-key-1', self.metrics().text)  # no client labels
        self.assertIn("penalty box: key 'abus****#", self.sluice.stderr())

        # Removed: the limit is back, the box empty; a second DELETE finds nothing.
        gone = request(self.sluice.admin_port, 'DELETE', '/admin/penalties/per-key/abuser-key-1')
        self.assertEqual(gone.status, 200, gone)
        self.assertEqual(gone.json(), {'limit': 'per-key', 'key': 'abuser-key-1', 'removed': True})
        self.assertEqual(limit_of(port, ABUSER), '10')
        self.assertEqual(penalties(self.sluice.admin_port), [])
        again = request(self.sluice.admin_port, 'DELETE', '/admin/penalties/per-key/abuser-key-1')
        self.assertErrorBody(again, 404, 'not_found', 'not in the penalty box')
        unknown = request(self.sluice.admin_port, 'DELETE', '/admin/penalties/nope/abuser-key-1')
        self.assertErrorBody(unknown, 404, 'not_found', "No limit named 'nope'")
        wrong = request(self.sluice.admin_port, 'GET', '/admin/penalties/per-key/abuser-key-1')
        self.assertEqual(wrong.status, 405)

    def test_admin_config_shows_the_penalty_as_written(self):
        self.start_sluice({}, POLICY)
        limits = request(self.sluice.admin_port, 'GET', '/admin/config').json()['policy']['limits']
        self.assertEqual(limits[0]['penalty'], {
            'when': {'rejected_share': 0.5, 'min_requests': 20, 'window': '1m'},
            'factor': 0.3, 'duration': '30s'})

    def test_a_client_under_the_share_is_never_boxed(self):
        self.start_sluice({}, POLICY)
        avoid_window_edge(60)
        statuses = hammer(self.sluice.port, ABUSER, 18)  # 8 of 18 rejected: below half
        self.assertEqual(statuses.count(429), 8)
        self.assertEqual(limit_of(self.sluice.port, ABUSER), '10')  # 9 of 19 now
        self.assertEqual(penalties(self.sluice.admin_port), [])


class SharedPenaltyBox(RedisCase):
    def test_a_key_boxed_on_one_gateway_is_limited_on_the_other(self):
        redis = self.start_redis()
        a = self.start_gateway(redis, POLICY)
        b = self.start_gateway(redis, POLICY)
        avoid_window_edge(60)
        statuses = hammer(a.port, ABUSER)
        self.assertEqual(statuses.count(429), 10)
        boxed = time.monotonic()
        self.assertEqual(limit_of(a.port, ABUSER), '3')
        # Watched through b's admin API, not its data path: every request the abuser sent
        # to b would count there too, and 20 of them would box the key on b by itself.
        wait_for(lambda: len(penalties(b.admin_port)) == 1, timeout=3, interval=0.05,
                 message='the penalty on gateway b')
        delay = time.monotonic() - boxed
        self.assertLess(delay, 2.5)  # one sync period (1 s) on each side, at most
        self.assertEqual(limit_of(b.port, ABUSER), '3')
        self.assertEqual(limit_of(b.port, POLITE), '10')
        members = redis_call(redis.port, 'ZRANGE', 'sluice:penalties', '0', '-1')
        self.assertEqual(members, ['per-key\0abuser-key-1'])
        self.assertEqual(len(penalties(b.admin_port)), 1)
        # b learnt it: it did not box it, so only a counts a boxing.
        self.assertEqual(b.metrics().value('rate_limit_penalties_total', limit='per-key'), 0)

        gone = request(b.admin_port, 'DELETE', '/admin/penalties/per-key/abuser-key-1')
        self.assertEqual(gone.status, 200, gone)
        self.assertEqual(limit_of(b.port, ABUSER), '10')
        self.assertEqual(redis_call(redis.port, 'ZCARD', 'sluice:penalties'), 0)
        wait_for(lambda: limit_of(a.port, ABUSER) == '10', timeout=3, interval=0.05,
                 message='the removal on gateway a')

    def test_a_dead_redis_keeps_local_boxes(self):
        redis = self.start_redis()
        a = self.start_gateway(redis, POLICY)
        redis.stop()
        avoid_window_edge(60)
        hammer(a.port, ABUSER)  # on_error: local decides
        self.assertEqual(limit_of(a.port, ABUSER), '3')
        self.assertEqual(limit_of(a.port, POLITE), '10')
        self.assertEqual(len(penalties(a.admin_port)), 1)
        gone = request(a.admin_port, 'DELETE', '/admin/penalties/per-key/abuser-key-1')
        self.assertErrorBody(gone, 503, 'storage_unavailable')


if __name__ == '__main__':
    unittest.main()
