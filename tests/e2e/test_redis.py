"""The Redis backend with Redis up (SPEC 5, 7, 9): two gateways sharing one
redis-server admit exactly the limit under concurrency (through the Functions library,
and through the EVAL scripts on a Redis without Functions), a denied request charges no
limit, one FCALL per request, headers and 429 bodies equal to the memory backend's, the
library loaded once again after FUNCTION FLUSH or a restart mid-traffic with no failed
request, NOSCRIPT after SCRIPT FLUSH, keys named <key_prefix><limit>:<key> with an
expiry, and runtime access entries and tier assignments shared between gateways.
Redis failures and recovery: test_redis_failures.py."""

import json
import threading
import time
import unittest

from harness import avoid_window_edge, hammer, request, wait_for
from redis_support import (RedisCase, Resp, code_loads, commandstats, rate_limit_headers,
                           redis_call, redis_state, stats, storage_metrics)

# redis-server without Functions (as on Redis 6): FUNCTION renamed away.
WITHOUT_FUNCTIONS = ('--rename-command', 'FUNCTION', '')


def avoid_second_edge(needed_s=0.2):
    """Sleeps into the next second when fewer than `needed_s` of this one are left, so
    two requests sent now report resets rounded to the same whole second."""
    left = 1 - time.time() % 1
    if left < needed_s:
        time.sleep(left + 0.01)


# One limit per algorithm, each on its own route and key, all `global`: every request
# through either gateway charges the same Redis key.
SHARED_POLICY = {
    'routes': [
        {'name': 'fw', 'match': '/fw/**'},
        {'name': 'sl', 'match': '/sl/**'},
        {'name': 'sw', 'match': '/sw/**'},
        {'name': 'tb', 'match': '/tb/**'},
    ],
    'limits': [
        {'name': 'fw', 'key': 'global', 'algorithm': 'fixed_window', 'rate': '100/1h',
         'routes': ['fw']},
        {'name': 'sl', 'key': 'global', 'algorithm': 'sliding_log', 'rate': '60/1h',
         'routes': ['sl']},
        {'name': 'sw', 'key': 'global', 'algorithm': 'sliding_window', 'rate': '70/1h',
         'routes': ['sw']},
        {'name': 'tb', 'key': 'global', 'rate': '1/1d', 'burst': 50, 'routes': ['tb']},
    ],
}


class SharedLimits(RedisCase):
    REDIS_ARGS = ()

    def setUp(self):
        super().setUp()
        self.redis = self.start_redis(self.REDIS_ARGS)
        # Exactness while Redis answers: a generous deadline, so that a slow machine
        # (the sanitizer build) does not time out and decide locally (on_error: local,
        # tested in test_redis_failures) and admit beyond the shared limit.
        patient = {'storage': {'redis': {'timeout': '1s'}}}
        self.a = self.start_gateway(self.redis, SHARED_POLICY, overrides=patient)
        self.b = self.start_gateway(self.redis, SHARED_POLICY, overrides=patient)

    def test_two_gateways_hammered_together_admit_exactly_the_limit(self):
        avoid_window_edge(3600)
        admitted = 0
        for path, limit in (('/fw/x', 100), ('/sl/x', 60), ('/sw/x', 70), ('/tb/x', 50)):
            # 2 gateways x 16 connections x 5 requests = 160 at once.
            statuses = hammer([self.a.port, self.b.port], 16, 5, path)
            self.assertEqual(statuses.count(200), limit, path)
            self.assertEqual(statuses.count(429), 160 - limit, path)
            admitted += limit
        self.assertEqual(self.upstream.count, admitted)
        allowed = sum(g.metrics().total('rate_limit_requests_allowed_total')
                      for g in (self.a, self.b))
        self.assertEqual(allowed, admitted)
        for g in (self.a, self.b):
            self.assertEqual(storage_metrics(g), (0, 0))

        # Keys: <key_prefix><limit>:<key>, every one with an expiry.
        state = redis_state(self.redis.port)
        self.assertEqual(set(state), {'sluice:fw:global', 'sluice:sl:global',
                                      'sluice:sw:global', 'sluice:tb:global'})
        for key, (kind, value, pttl) in state.items():
            self.assertGreater(pttl, 0, key)
        self.assertEqual(state['sluice:fw:global'][0], 'string')
        self.assertRegex(state['sluice:fw:global'][1], r'^fw \d+ 100$')
        self.assertLessEqual(state['sluice:fw:global'][2], 3600 * 1000 + 2000)  # + margin and slack
        self.assertEqual(state['sluice:sl:global'][0], 'zset')
        self.assertEqual(len(state['sluice:sl:global'][1]), 60)
        self.assertRegex(state['sluice:sw:global'][1], r'^sw \d+ 70 0$')
        self.assertRegex(state['sluice:tb:global'][1], r'^tb \d+ \d+$')
        # The bucket empties in 50 days at 1/day: its key lives as long, no longer.
        self.assertGreater(state['sluice:tb:global'][2], 49 * 86400 * 1000)
        self.assertLessEqual(state['sluice:tb:global'][2], 50 * 86400 * 1000 + 2000)

    def test_a_limit_exhausted_on_one_gateway_is_exhausted_on_the_other(self):
        statuses = [request(self.a.port, 'GET', '/tb/a').status for _ in range(30)]
        statuses += [request(self.b.port, 'GET', '/tb/b').status for _ in range(30)]
        self.assertEqual(statuses, [200] * 50 + [429] * 10)
        peek = request(self.b.admin_port, 'GET', '/admin/limits/tb/global').json()
        self.assertEqual((peek['limit'], peek['remaining']), (50, 0))
        # The admin reset (DEL) is shared too: b may deny from its local-denial cache
        # until its control thread reads the reset mark (every 250 ms; a 429 that
        # charges nothing), then Redis admits.
        reset = request(self.a.admin_port, 'DELETE', '/admin/limits/tb/global')
        self.assertEqual(reset.status, 200)
        started = time.monotonic()
        wait_for(lambda: request(self.b.port, 'GET', '/tb/b').status == 200, timeout=2,
                 message='the reset to reach gateway b')
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertEqual(redis_call(self.redis.port, 'EXISTS', 'sluice:tb:global'), 1)


class SharedLimitsWithoutFunctions(SharedLimits):
    """The same, on a Redis without Functions: decisions go through EVALSHA."""
    REDIS_ARGS = WITHOUT_FUNCTIONS

    def tearDown(self):
        self.assertGreater(commandstats(self.redis.port).get('evalsha', 0), 0)
        for g in (self.a, self.b):
            self.assertEqual(g.stderr().count('no Functions on this server'), 1)
        super().tearDown()


# Five limits on one request, every one keyed on the client IP; `tight` denies the
# third request while every other limit still has room.
FIVE_LIMITS = {
    'limits': [
        {'name': 'wide-fw', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '100/1h'},
        {'name': 'wide-sl', 'key': 'ip', 'algorithm': 'sliding_log', 'rate': '100/1h'},
        {'name': 'tight', 'key': 'ip', 'rate': '1/1h', 'burst': 2},
        {'name': 'wide-sw', 'key': 'ip', 'algorithm': 'sliding_window', 'rate': '100/1h'},
        {'name': 'wide-lb', 'key': 'ip', 'algorithm': 'leaky_bucket', 'rate': '1/1h',
         'burst': 100},
        {'name': 'watch', 'key': 'ip', 'rate': '1/1h', 'burst': 1, 'shadow': True},
    ],
}
FIVE_KEYS = {'edge:%s:127.0.0.1' % n
             for n in ('wide-fw', 'wide-sl', 'tight', 'wide-sw', 'wide-lb', 'watch')}


class AllOrNothing(RedisCase):
    def test_a_request_denied_by_one_limit_leaves_the_others_untouched(self):
        avoid_window_edge(3600)
        redis = self.start_redis()
        a = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:')
        b = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:')
        self.assertEqual([request(a.port, 'GET', '/x').status for _ in range(2)], [200, 200])
        before = redis_state(redis.port, 'edge:*')
        self.assertEqual(set(before), FIVE_KEYS)
        self.assertTrue(all(pttl > 0 for _, _, pttl in before.values()), before)

        for g in (a, b, a, b):
            r = request(g.port, 'GET', '/x')
            self.assertEqual(r.status, 429)
            self.assertEqual(r.json()['error']['limit'], 'tight')
            self.assertEqual(r.header('X-RateLimit-Scope'), 'tight')
        after = redis_state(redis.port, 'edge:*')
        # Values byte for byte (expiries only run down): nothing was charged.
        self.assertEqual({k: v[:2] for k, v in after.items()},
                         {k: v[:2] for k, v in before.items()})
        self.assertEqual(len(after['edge:wide-sl:127.0.0.1'][1]), 2)
        self.assertRegex(after['edge:wide-fw:127.0.0.1'][1], r'^fw \d+ 2$')
        for limit in ('wide-fw', 'wide-sl', 'wide-sw'):
            peek = request(b.admin_port, 'GET', '/admin/limits/%s/127.0.0.1' % limit).json()
            self.assertEqual(peek['remaining'], 98, limit)


class OneRoundTrip(RedisCase):
    def test_one_fcall_per_request_whatever_the_number_of_limits(self):
        redis = self.start_redis()
        g = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:')
        self.assertEqual(request(g.port, 'GET', '/warm').status, 200)
        before = commandstats(redis.port)
        statuses = [request(g.port, 'GET', '/x').status for _ in range(20)]
        after = commandstats(redis.port)
        self.assertEqual(statuses, [200] + [429] * 19)
        # One call per request, none for one denied from the local-denial cache
        # (test_redis_local_denials.py).
        local = g.metrics().total('rate_limit_local_denials_total')
        self.assertEqual(after.get('fcall', 0) - before.get('fcall', 0) + local, 20)
        for other in ('evalsha', 'eval', 'function|load', 'fcall_ro'):
            self.assertEqual(after.get(other, 0), before.get(other, 0), other)
        self.assertEqual(after.get('evalsha', 0), 0)

    def test_a_peek_is_one_fcall_ro(self):
        redis = self.start_redis()
        g = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:')
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)
        before = commandstats(redis.port)
        peek = request(g.admin_port, 'GET', '/admin/limits/tight/127.0.0.1').json()
        self.assertEqual((peek['limit'], peek['remaining']), (2, 1))
        after = commandstats(redis.port)
        self.assertEqual(after.get('fcall_ro', 0) - before.get('fcall_ro', 0), 1)
        self.assertEqual(after.get('fcall', 0), before.get('fcall', 0))


# Every algorithm on one route, and a cost route; `tb` is the closest to exhaustion.
COMPARED_POLICY = {
    'routes': [{'name': 'heavy', 'match': 'POST /heavy', 'cost': 3}],
    'limits': [
        {'name': 'tb', 'key': 'ip', 'rate': '1/1h', 'burst': 4},
        {'name': 'lb', 'key': 'ip', 'algorithm': 'leaky_bucket', 'rate': '1/1h', 'burst': 20},
        {'name': 'fw', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '30/1h'},
        {'name': 'sw', 'key': 'ip', 'algorithm': 'sliding_window', 'rate': '30/1h'},
        {'name': 'sl', 'key': 'ip', 'algorithm': 'sliding_log', 'rate': '6/1h'},
        {'name': 'heavy', 'key': 'ip', 'rate': '1/1h', 'burst': 5, 'routes': ['heavy'],
         'count': 'cost'},
    ],
}


class SameAsMemory(RedisCase):
    """The same traffic through a memory gateway and a Redis gateway, request by
    request: status, every rate-limit header, and the 429 body are identical."""

    def compare(self, headers):
        redis = self.start_redis()
        memory = self.start_sluice({'headers': headers}, COMPARED_POLICY)
        shared = self.start_gateway(redis, COMPARED_POLICY, overrides={'headers': headers})
        steps = [('GET', '/a')] * 2 + [('POST', '/heavy')] * 2 + [('GET', '/a')] * 3
        for i, (method, path) in enumerate(steps):
            avoid_second_edge()
            m = request(memory.port, method, path, b'' if method == 'POST' else None)
            r = request(shared.port, method, path, b'' if method == 'POST' else None)
            where = '%s step %d %s %s' % (headers, i, method, path)
            self.assertEqual(m.status, r.status, where)
            self.assertTrue(rate_limit_headers(m), where)
            self.assertEqual(rate_limit_headers(m), rate_limit_headers(r), where)
            if m.status == 429:
                self.assertEqual(m.header('Content-Type'), r.header('Content-Type'))
                self.assertEqual(json.loads(m.body), json.loads(r.body), where)

    def test_legacy_epoch_and_draft6(self):
        self.compare({'legacy': True, 'legacy_reset': 'epoch', 'standard': 'draft-6'})

    def test_legacy_delta_and_draft7(self):
        self.compare({'legacy': True, 'legacy_reset': 'delta', 'standard': 'draft-7'})

    def test_draft10(self):
        self.compare({'legacy': False, 'standard': 'draft-10'})


# One generous token bucket per route: every request passes, so any failed decision
# (on_error: deny) shows as a 503.
ROOMY_POLICY = {'limits': [{'name': 'roomy', 'key': 'global', 'rate': '1/1h', 'burst': 100000}]}


class CodeLoading(RedisCase):
    """The library is loaded when the server lacks it: at the first request, after
    FUNCTION FLUSH, after a restart. Loads are counted once across gateways (a load
    that finds the library already there, loaded by another request or gateway, is
    not a load), and no request fails."""

    def start_pair(self, redis):
        deny = {'storage': {'redis': {'timeout': '1s'}}}
        return [self.start_gateway(redis, ROOMY_POLICY, on_error='deny', overrides=deny)
                for _ in range(2)]

    def loads(self, gateways):
        return sum(code_loads(g, 'function') for g in gateways)

    def logged(self, gateways):
        return sum(g.stderr().count('loaded the function library sluice_') for g in gateways)

    def traffic(self, gateways, during=None, redis=None):
        """8 connections per gateway, 40 requests each; `during` runs once meanwhile,
        after `redis` has seen 100 of the decisions."""
        statuses = []
        start = commandstats(redis.port).get('fcall', 0) if during else 0
        worker = threading.Thread(
            target=lambda: statuses.extend(hammer([g.port for g in gateways], 8, 40, '/r')))
        worker.start()
        if during:
            wait_for(lambda: commandstats(redis.port).get('fcall', 0) >= start + 100, timeout=30,
                     interval=0.005, message='traffic to start')
            during()
        worker.join(60)
        self.assertEqual(len(statuses), 2 * 8 * 40)
        self.assertEqual(statuses, [200] * len(statuses), 'a decision failed')
        for g in gateways:
            self.assertEqual(storage_metrics(g), (0, 0))

    def test_the_first_request_loads_the_library(self):
        redis = self.start_redis()
        gateways = self.start_pair(redis)
        self.assertEqual(redis_call(redis.port, 'FUNCTION', 'LIST'), [])
        self.traffic(gateways)
        self.assertEqual((self.loads(gateways), self.logged(gateways)), (1, 1))
        listed = redis_call(redis.port, 'FUNCTION', 'LIST')
        self.assertEqual(len(listed), 1)
        self.assertRegex(listed[0][1], r'^sluice_[0-9a-f]{8}$')
        functions = sorted(f[1] for f in listed[0][5])
        self.assertEqual(functions, [listed[0][1] + '_decide', listed[0][1] + '_peek',
                                     listed[0][1] + '_refund'])

    def test_function_flush_mid_traffic_costs_no_request(self):
        redis = self.start_redis()
        gateways = self.start_pair(redis)
        self.traffic(gateways)
        self.assertEqual(self.loads(gateways), 1)
        before = commandstats(redis.port)
        self.traffic(gateways, redis=redis, during=lambda: self.assertEqual(
            redis_call(redis.port, 'FUNCTION', 'FLUSH'), 'OK'))
        self.assertEqual((self.loads(gateways), self.logged(gateways)), (2, 2),
                         'loaded once again')
        after = commandstats(redis.port)
        self.assertGreaterEqual(after['function|load'] - before.get('function|load', 0), 1)
        self.assertEqual(after.get('evalsha', 0), 0)

    def test_a_restarted_redis_gets_the_library_once_again(self):
        redis = self.start_redis()
        gateways = self.start_pair(redis)
        self.traffic(gateways)
        redis.stop()
        redis = self.restart_redis(redis)
        wait_for(lambda: all(stats(g)['storage']['reachable'] for g in gateways), timeout=5,
                 message='the gateways to reconnect')
        errors = [storage_metrics(g)[0] for g in gateways]
        self.traffic_after_restart(gateways, errors)
        self.assertEqual((self.loads(gateways), self.logged(gateways)), (2, 2))

    def traffic_after_restart(self, gateways, errors_before):
        statuses = hammer([g.port for g in gateways], 8, 25, '/r')
        self.assertEqual(statuses, [200] * len(statuses), 'a decision failed')
        self.assertEqual([storage_metrics(g)[0] for g in gateways], errors_before)


class WithoutFunctions(RedisCase):
    """A Redis without Functions (Redis 6; here FUNCTION renamed away): the gateway
    says so once and uses EVALSHA, EVAL when the scripts are not cached."""

    def test_decisions_fall_back_to_evalsha(self):
        redis = self.start_redis(WITHOUT_FUNCTIONS)
        g = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:', on_error='deny')
        statuses = [request(g.port, 'GET', '/x').status for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 429])
        calls = commandstats(redis.port)
        # FCALL (not found), FUNCTION LOAD (unknown), EVALSHA (NOSCRIPT), EVAL; then EVALSHA.
        self.assertEqual((calls.get('fcall', 0), calls.get('eval', 0), calls.get('evalsha', 0)),
                         (1, 1, 3))
        self.assertEqual(g.stderr().count('no Functions on this server'), 1)
        self.assertEqual((code_loads(g, 'function'), code_loads(g, 'script')), (0, 1))
        before = commandstats(redis.port)
        peek = request(g.admin_port, 'GET', '/admin/limits/tight/127.0.0.1').json()
        self.assertEqual(peek['remaining'], 0)
        after = commandstats(redis.port)
        self.assertEqual(after.get('evalsha', 0) - before.get('evalsha', 0), 1, 'the peek')
        self.assertEqual(after.get('eval', 0) - before.get('eval', 0), 1, 'the peek script')
        self.assertEqual(storage_metrics(g), (0, 0))

    def test_script_flush_costs_no_request(self):
        redis = self.start_redis(WITHOUT_FUNCTIONS)
        g = self.start_gateway(redis, FIVE_LIMITS, prefix='edge:')
        self.assertEqual(request(g.port, 'GET', '/x').status, 200)
        self.assertEqual(redis_call(redis.port, 'SCRIPT', 'FLUSH'), 'OK')
        before = commandstats(redis.port)
        r = request(g.port, 'GET', '/x')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '0')  # tight: 2nd of 2
        middle = commandstats(redis.port)
        self.assertEqual(middle.get('eval', 0) - before.get('eval', 0), 1)
        # EVAL cached the script again: back to one EVALSHA per request.
        self.assertEqual(request(g.port, 'GET', '/x').status, 429)
        after = commandstats(redis.port)
        self.assertEqual(after.get('eval', 0), middle.get('eval', 0))
        self.assertEqual(after.get('evalsha', 0) - middle.get('evalsha', 0), 1)
        self.assertEqual(after.get('fcall', 0), 1, 'FCALL only once, at the first request')
        self.assertEqual(storage_metrics(g), (0, 0))
        self.assertEqual(code_loads(g, 'script'), 2)


POLICY_WITH_TIERS = {
    'tiers': {'free': {'rate': '1/1h', 'burst': 2}, 'pro': {'rate': '1/1h', 'burst': 50}},
    'clients': {'default_tier': 'free'},
    'limits': [{'name': 'per-client', 'key': 'client', 'tier': True}],
}


class RuntimeEntriesShared(RedisCase):
    def setUp(self):
        super().setUp()
        self.redis = self.start_redis()
        self.a = self.start_gateway(self.redis, POLICY_WITH_TIERS)
        self.b = self.start_gateway(self.redis, POLICY_WITH_TIERS)

    def status(self, gateway, headers=None):
        """403 (denied) or 200/429 (limited as usual: the free tier admits two)."""
        return request(gateway.port, 'GET', '/r', headers=headers).status

    def denied(self, gateway, headers=None):
        return self.status(gateway, headers) == 403

    def test_a_deny_entry_made_on_one_gateway_applies_on_the_other_until_it_expires(self):
        key = {'X-API-Key': 'key-watched'}
        self.assertEqual(self.status(self.b, key), 200)
        put = request(self.a.admin_port, 'PUT', '/admin/access/deny/api_key/key-watched?ttl=3s')
        self.assertEqual(put.status, 200, put)
        made = time.monotonic()
        self.assertEqual(self.status(self.a, key), 403)
        wait_for(lambda: self.denied(self.b, key), timeout=3, interval=0.05,
                 message='the deny entry on gateway b')
        self.assertLess(time.monotonic() - made, 1.5)
        self.assertEqual(self.status(self.b, {'X-API-Key': 'key-other'}), 200)
        fields = redis_call(self.redis.port, 'HGETALL', 'sluice:overrides:access')
        self.assertEqual(fields[0], 'deny|api_key|key-watched')

        for g in (self.a, self.b):
            wait_for(lambda: not self.denied(g, key), timeout=5, interval=0.05,
                     message='the entry to expire')
        expired = time.monotonic() - made
        self.assertGreater(expired, 2.8)
        self.assertLess(expired, 3.5)
        # The next pull drops the expired entry from Redis too.
        wait_for(lambda: redis_call(self.redis.port, 'HLEN', 'sluice:overrides:access') == 0,
                 timeout=3, message='the expired entry to leave Redis')

    def test_a_deny_entry_removed_on_one_gateway_is_removed_on_the_other(self):
        put = request(self.a.admin_port, 'PUT', '/admin/access/deny/ip/127.0.0.1')
        self.assertEqual(put.status, 200)
        wait_for(lambda: self.denied(self.b), timeout=3, message='the deny entry on b')
        self.assertEqual(request(self.b.admin_port, 'DELETE',
                                 '/admin/access/deny/ip/127.0.0.1').status, 200)
        self.assertFalse(self.denied(self.b))
        wait_for(lambda: not self.denied(self.a), timeout=3, message='the removal on a')

    def test_a_tier_assigned_on_one_gateway_applies_on_the_other(self):
        key = {'X-API-Key': 'key-upgraded'}

        def limit_on(g):
            return request(g.port, 'GET', '/r', headers=key).header('X-RateLimit-Limit')

        self.assertEqual(limit_on(self.b), '2')
        put = request(self.a.admin_port, 'PUT', '/admin/clients/key-upgraded',
                      body=json.dumps({'tier': 'pro'}).encode(),
                      headers={'Content-Type': 'application/json'})
        self.assertEqual(put.status, 200, put)
        made = time.monotonic()
        self.assertEqual(limit_on(self.a), '50')
        wait_for(lambda: limit_on(self.b) == '50', timeout=3, interval=0.05,
                 message='the tier on gateway b')
        self.assertLess(time.monotonic() - made, 1.5)
        self.assertEqual(redis_call(self.redis.port, 'HGET', 'sluice:overrides:tiers',
                                    'key-upgraded'), 'pro')

        self.assertEqual(request(self.b.admin_port, 'DELETE',
                                 '/admin/clients/key-upgraded').status, 200)
        wait_for(lambda: limit_on(self.a) == '2', timeout=3, message='the removal on a')



class RuntimeEntriesRaces(RedisCase):
    """An admin write that lands while a once-a-second pull is in flight. A big shared
    hash makes the pull take long enough to hit on purpose: MONITOR shows when a
    gateway's HGETALL ran, and the write follows at once."""

    FILLER = 40000

    def setUp(self):
        super().setUp()
        self.redis = self.start_redis()
        r = Resp(self.redis.port, timeout=30)
        for start in range(0, self.FILLER, 10000):
            args = []
            for i in range(start, start + 10000):
                args += ['allow|user|filler-%d' % i, '0']
            r.call('HSET', 'sluice:overrides:access', *args)
        r.close()

    def start(self):
        """A gateway and the addresses of its Redis connections."""
        before = self.client_addresses()
        # A pull of the big hash takes longer than the default 25 ms timeout.
        g = self.start_gateway(self.redis, POLICY_WITH_TIERS,
                               overrides={'storage': {'redis': {'timeout': '2s'}}})
        return g, self.client_addresses() - before

    def client_addresses(self):
        clients = redis_call(self.redis.port, 'CLIENT', 'LIST').splitlines()
        return {f[len('addr='):] for c in clients for f in c.split() if f.startswith('addr=')}

    def right_after_a_pull(self, addresses, action):
        """Runs `action` as soon as a gateway with these connections reads the hash."""
        monitor = Resp(self.redis.port, timeout=5)
        self.addCleanup(monitor.close)
        self.assertEqual(monitor.call('MONITOR'), 'OK')
        while True:
            line = monitor._read()
            if ('"HGETALL" "sluice:overrides:access"' in line and
                    any('%s]' % a in line for a in addresses)):
                return action()

    def denied(self, gateway, api_key):
        return request(gateway.port, 'GET', '/r', headers={'X-API-Key': api_key}).status == 403

    def test_an_entry_put_during_a_pull_is_not_dropped_by_it(self):
        a, connections = self.start()
        path = '/admin/access/deny/api_key/key-during-pull'
        put = self.right_after_a_pull(connections, lambda: request(a.admin_port, 'PUT', path))
        self.assertEqual(put.status, 200)
        # Enforced from the answer on, not only from a later pull on.
        checks = []
        until = time.monotonic() + 1.2
        while time.monotonic() < until:
            checks.append(self.denied(a, 'key-during-pull'))
            time.sleep(0.02)
        self.assertTrue(all(checks), checks)

    def test_an_entry_put_again_during_another_gateways_pull_is_not_deleted_as_expired(self):
        field = 'deny|api_key|key-again'
        expired = int((time.time() - 60) * 1e6)
        self.assertEqual(redis_call(self.redis.port, 'HSET', 'sluice:overrides:access', field,
                                    expired), 1)
        a, _ = self.start()
        b, b_connections = self.start()
        path = '/admin/access/deny/api_key/key-again'
        # b read the expired value; a puts the entry again before b drops it.
        put = self.right_after_a_pull(b_connections, lambda: request(a.admin_port, 'PUT', path))
        self.assertEqual(put.status, 200)
        # b enforces the entry only from a pull after the one that read the expired value
        # (pulls run one after another), so by then that pull's delete has run too. The
        # bound is generous: pulling the big hash is slow on a busy machine.
        wait_for(lambda: self.denied(b, 'key-again'), timeout=15, interval=0.1,
                 message='the entry put again, on gateway b')
        self.assertEqual(redis_call(self.redis.port, 'HGET', 'sluice:overrides:access', field),
                         '0')
        self.assertTrue(self.denied(a, 'key-again'))

if __name__ == '__main__':
    unittest.main()


class ReloadedRedisSettings(RedisCase):
    def test_a_reload_names_the_connection_settings_it_keeps_until_a_restart(self):
        redis = self.start_redis()
        gateway = self.start_gateway(redis, SHARED_POLICY)
        config = json.loads(json.dumps(gateway.config))
        config['storage']['on_error'] = 'allow'  # applied by a reload: not named
        config['storage']['redis']['timeout'] = '2s'
        config['storage']['redis']['connections'] = config['storage']['redis'].get('connections', 1) + 1
        gateway.write_config(config)
        self.assertTrue(gateway.reload())
        stderr = gateway.stderr()
        self.assertIn('sluice: storage.redis.timeout, storage.redis.connections changed; '
                      'it takes effect at the next restart', stderr)
        self.assertNotIn('on_error changed', stderr)
        # Reloading the same file again names nothing new.
        self.assertTrue(gateway.reload())
        self.assertEqual(gateway.stderr().count('takes effect at the next restart'), 1)
