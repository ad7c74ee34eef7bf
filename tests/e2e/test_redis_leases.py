"""Local quota leases of the Redis backend (issue 15, README "Local quota leases"): a
limit's `lease: { max_tokens, max_age }` lets a gateway take up to max_tokens units of a
key's budget from Redis with a request and spend them locally. One gateway hammering
one hot key calls Redis at most once per 5 requests (INFO commandstats and
rate_limit_redis_calls_total); two gateways sharing one Redis and a fixed budget admit
exactly that budget between them (a lease is charged before use), and what a lease
holds unspent returns after max_age (the other gateway can then spend it). With the
memory backend the key is accepted and changes nothing."""

import time
import unittest

from harness import avoid_window_edge, hammer, request, wait_for
from redis_support import RedisCase, commandstats

PATIENT = {'storage': {'redis': {'timeout': '1s'}}}


def hot_policy(lease):
    limit = {'name': 'hot', 'key': 'global', 'rate': '100000/s'}
    if lease:
        limit['lease'] = {'max_tokens': 10, 'max_age': '250ms'}
    return {'limits': [limit]}


BUDGET = {'limits': [{'name': 'hourly', 'key': 'global', 'algorithm': 'fixed_window',
                      'rate': '200/1h', 'lease': {'max_tokens': 10, 'max_age': '300ms'}}]}


def decide_calls(port):
    """Decision calls Redis ran (FCALL, or EVALSHA/EVAL without Functions)."""
    stats = commandstats(port)
    return sum(stats.get(c, 0) for c in ('fcall', 'evalsha', 'eval'))


def held(gateway):
    return gateway.metrics().value('rate_limit_lease_tokens', limit='hourly')


class Leases(RedisCase):
    def hot_key_calls(self, lease, connections=2, per_connection=1000):
        redis = self.start_redis()
        upstream = self.start_fast_upstream()
        g = self.start_gateway(redis, hot_policy(lease), overrides=PATIENT,
                               upstream_url=upstream.url)
        before = decide_calls(redis.port)
        started = time.monotonic()
        statuses = hammer([g.port], connections, per_connection)
        seconds = time.monotonic() - started
        calls = decide_calls(redis.port) - before
        self.assertEqual(statuses, [200] * (connections * per_connection))
        return calls / len(statuses), len(statuses) / seconds, g

    def test_one_gateway_on_a_hot_key_calls_redis_at_most_once_per_five_requests(self):
        per_request, rate, g = self.hot_key_calls(lease=True)
        print('\nleases: %.3f Redis calls per request, %.0f requests/s' % (per_request, rate))
        self.assertLessEqual(per_request, 0.2)
        m = g.metrics()
        # The gateway's own count agrees: decide calls per request from /metrics.
        requests = m.total('rate_limit_requests_total')
        self.assertGreaterEqual(requests, 2000)
        self.assertLessEqual(m.value('rate_limit_redis_calls_total', kind='decide') / requests,
                             0.2)
        self.assertGreaterEqual(m.value('rate_limit_lease_decisions_total'), 0.8 * 2000)

    def test_two_gateways_admit_exactly_the_budget_and_unspent_units_return(self):
        redis = self.start_redis()
        upstream = self.start_fast_upstream()
        a = self.start_gateway(redis, BUDGET, overrides=PATIENT, upstream_url=upstream.url)
        b = self.start_gateway(redis, BUDGET, overrides=PATIENT, upstream_url=upstream.url)
        avoid_window_edge(3600, needed_s=30)
        # Both hammered at once, far past the budget.
        statuses = hammer([a.port, b.port], 4, 60)
        admitted = statuses.count(200)
        self.assertEqual(admitted + statuses.count(429), len(statuses))
        self.assertLessEqual(admitted, 200)  # never over the budget, whoever held what
        # Whatever a lease still held goes back after max_age (300 ms) and a tick.
        wait_for(lambda: held(a) == 0 and held(b) == 0, timeout=3,
                 message='the leases to be given back')
        # Then every unit is spendable again, on either gateway: exactly 200 in all.
        for g in (b, a):
            while request(g.port, 'GET', '/x').status == 200:
                admitted += 1
                self.assertLessEqual(admitted, 200)
        self.assertEqual(admitted, 200)
        # And Redis counted each of them once.
        time.sleep(0.8)  # past every lease taken by the loop above
        self.assertEqual([request(g.port, 'GET', '/x').status for g in (a, b)], [429, 429])

    def test_a_lease_outlives_redis_until_it_ages_out_then_on_error_applies(self):
        redis = self.start_redis()
        policy = {'limits': [{'name': 'outage', 'key': 'global', 'rate': '200/1h',
                              'lease': {'max_tokens': 5, 'max_age': '5s'}}]}
        g = self.start_gateway(redis, policy, on_error='deny', overrides=PATIENT)
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)  # charged 1, leased 5 more
        wait_for(lambda: g.metrics().value('rate_limit_lease_tokens', limit='outage') == 5,
                 timeout=2, message='the lease')
        redis.stop()
        # The 5 leased units were charged in Redis before: spending them is exact.
        statuses = [request(g.port, 'GET', '/x').status for _ in range(7)]
        self.assertEqual(statuses[:5], [200] * 5)
        self.assertEqual(statuses[5:], [503, 503])  # no lease left: on_error: deny

    def test_the_memory_backend_accepts_a_lease_and_decides_as_without(self):
        self.start_sluice(policy={'limits': [{'name': 'tight', 'key': 'ip', 'rate': '3/1h',
                                              'lease': {'max_tokens': 2, 'max_age': '1s'}}]})
        self.assertEqual([self.get('/x').status for _ in range(4)], [200, 200, 200, 429])
        limits = request(self.sluice.admin_port, 'GET', '/admin/config').json()['policy']['limits']
        self.assertEqual(limits[0]['lease'], {'max_tokens': 2, 'max_age': '1s'})


if __name__ == '__main__':
    unittest.main()
