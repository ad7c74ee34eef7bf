"""Redis Sentinel mode (storage.redis.mode: sentinel, issue 10): one master, one replica
and three sentinels (redis-server --sentinel), all real processes on free loopback ports.
Two gateways share a per-key limit exactly on the master; the master is killed (SIGKILL);
after the sentinels' failover both gateways decide on the promoted replica without a
restart (the shared limit exact again, its key on the new master), and the requests in
between got only storage.on_error decisions (deny: 503 storage_unavailable), none hung.
A gateway whose sentinels are all down starts, answers by on_error, and follows a
sentinel that comes up."""

import time
import unittest

from harness import free_port, request, wait_for
from redis_support import RedisCase, RedisSentinels, redis_state, stats

# Five requests per API key, then 429 (each phase uses fresh keys).
POLICY = {'limits': [{'name': 'per-key', 'key': 'api_key', 'rate': '1/1h', 'burst': 5}]}
BURST = 5
# storage.redis.timeout: generous, so that a slow machine (the sanitizer build) never
# times out while Redis answers, which would make the exact phases inexact. A dead
# master costs no timeout anyway: its connections fail at once.
TIMEOUT = '1s'
REQUEST_MAX_S = 3.0  # no request waits much beyond the Redis timeout, even mid-failover


def key(name):
    return {'X-API-Key': name}


class SentinelFailover(RedisCase):

    def start_sentinel_gateway(self, sentinels):
        return self.start_gateway(sentinels.master, POLICY, on_error='deny',
                                  overrides=sentinels.storage_config('deny', TIMEOUT))

    def shared_round(self, gateways, name, requests=12):
        """`requests` requests with one fresh key, alternating gateways: the statuses."""
        return [request(gateways[i % len(gateways)].port, 'GET', '/r', headers=key(name)).status
                for i in range(requests)]

    def assertExact(self, statuses, label):
        self.assertEqual(statuses.count(200), BURST, (label, statuses))
        self.assertEqual(statuses.count(429), len(statuses) - BURST, (label, statuses))

    def test_both_gateways_follow_a_failover_without_a_restart(self):
        s = self.start_sentinels()
        old = s.master.port
        a = self.start_sentinel_gateway(s)
        b = self.start_sentinel_gateway(s)
        for g in (a, b):
            self.assertIn('storage redis sentinel mode, master mymaster at 127.0.0.1:%d' % old,
                          g.stderr())

        self.assertExact(self.shared_round([a, b], 'before'), 'before')
        self.assertTrue(any('per-key' in k and 'before' in k for k in redis_state(old)))

        killed = time.monotonic()
        s.kill(s.master)
        # Fresh keys on both gateways until both decide again: 200 means a master
        # answered (the killed one cannot, the replica says READONLY until promoted).
        during = []
        recovered = {}
        n = 0
        while len(recovered) < 2 and time.monotonic() < killed + 40:
            for name, g in (('a', a), ('b', b)):
                n += 1
                started = time.monotonic()
                r = request(g.port, 'GET', '/r', headers=key('during-%d' % n), timeout=10)
                during.append((name, r.status, time.monotonic() - started, r))
                if r.status == 200 and name not in recovered:
                    recovered[name] = time.monotonic() - killed
            time.sleep(0.02)
        new = s.wait_failover(old, timeout=5)
        self.assertEqual(set(recovered), {'a', 'b'}, 'both gateways decide again')
        print('\n  failover: decisions resumed %.2f s (a) and %.2f s (b) after the kill; '
              '%d requests in between' % (recovered['a'], recovered['b'], len(during)))

        # In between: only on_error (deny) decisions, none slower than the bound.
        for name, status, elapsed, r in during:
            self.assertIn(status, (200, 503), (name, status, r))
            if status == 503:
                self.assertErrorBody(r, 503, 'storage_unavailable')
            self.assertLess(elapsed, REQUEST_MAX_S, (name, status))

        # After: the shared limit is exact again, on the promoted replica.
        self.assertExact(self.shared_round([a, b], 'after'), 'after')
        self.assertTrue(any('per-key' in k and 'after' in k for k in redis_state(new)))
        for g in (a, b):
            self.assertIn('sentinel: master mymaster is now 127.0.0.1:%d (was 127.0.0.1:%d)'
                          % (new, old), g.stderr())
            storage = stats(g)['storage']
            self.assertTrue(storage['reachable'])
            self.assertEqual(storage['master'], '127.0.0.1:%d' % new)

    def test_with_every_sentinel_down_it_starts_and_follows_one_that_comes_up(self):
        master = self.start_redis()
        port = free_port()  # no sentinel there yet
        storage = {'storage': {
            'backend': 'redis',
            'redis': {'mode': 'sentinel', 'address': ['127.0.0.1:%d' % port],
                      'sentinel': {'master': 'mymaster'}, 'timeout': TIMEOUT},
            'on_error': 'deny'}}
        started = time.monotonic()
        g = self.start_sluice(storage, policy=POLICY)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn('storage redis sentinel mode, master mymaster at unknown (yet)', g.stderr())
        self.assertIn('sentinel: no sentinel names master mymaster', g.stderr())
        self.assertErrorBody(self.get('/r', key('down')), 503, 'storage_unavailable')
        self.assertEqual(stats(g)['storage']['master'], '')

        sentinels = RedisSentinels(self.workdir, replicas=0, count=0, quorum=1)
        sentinels.master = master  # monitored, not owned: start_redis stops it
        self.addCleanup(sentinels.stop)
        sentinels.start_sentinel(port)
        up = time.monotonic()
        wait_for(lambda: self.get('/r', key('up')).status == 200, timeout=10,
                 message='decisions on the master the sentinel names')
        print('\n  decisions %.2f s after the sentinel came up' % (time.monotonic() - up))
        self.assertIn('sentinel: master mymaster is now 127.0.0.1:%d (was unknown)' % master.port,
                      g.stderr())
        self.assertTrue(any('per-key' in k and 'up' in k for k in redis_state(master.port)))


if __name__ == '__main__':
    unittest.main()
