"""`shards: N` on a limit with the memory backend: the budget split over N sub-keys, each
client charging its own; whatever the clients, the whole never admits more than the
configured rate, and the headers describe the client's sub-key. The admin peek and reset
and the check API on a sharded limit, with the memory backend and with a redis-server."""

import threading
import unittest

import json

from harness import Client, GatewayTestCase, avoid_window_edge, merge, request
from redis_support import RedisCase


def spread(port, clients, per_client):
    """`clients` keep-alive connections, each with its own API key, released together,
    each sending `per_client` requests; returns {api key: [statuses]}."""
    results = {}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    errors = []

    def run(n):
        key = 'client-%d' % n
        try:
            with Client(port, timeout=30) as client:
                barrier.wait()
                mine = [client.get('/s', {'X-API-Key': key}).status for _ in range(per_client)]
            with lock:
                results[key] = mine
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results


class ShardedGlobalLimit(GatewayTestCase):
    def test_many_clients_never_get_more_than_the_configured_rate(self):
        policy = {'limits': [{'name': 'global', 'key': 'global', 'algorithm': 'fixed_window',
                              'rate': '100/min', 'shards': 4}]}
        self.start_sluice({'server': {'threads': 4}}, policy)
        avoid_window_edge(60)
        results = spread(self.sluice.port, 64, 8)
        statuses = [s for mine in results.values() for s in mine]
        self.assertEqual(len(statuses), 512)
        # 64 clients fill every sub-key (25 each): exactly the whole, never more.
        self.assertEqual(statuses.count(200), 100)
        self.assertEqual(statuses.count(429), 412)
        self.assertEqual(self.upstream.count, 100)
        self.assertEqual(self.metrics().total('rate_limit_requests_allowed_total'), 100)

    def test_token_bucket_burst_is_split_too(self):
        policy = {'limits': [{'name': 'global', 'key': 'global', 'rate': '3/1d', 'burst': 60,
                              'shards': 3}]}
        self.start_sluice({'server': {'threads': 4}}, policy)
        statuses = [s for mine in spread(self.sluice.port, 48, 4).values() for s in mine]
        self.assertEqual(statuses.count(200), 60)
        self.assertEqual(self.upstream.count, 60)

    def test_headers_describe_the_clients_sub_key(self):
        policy = {'limits': [{'name': 'global', 'key': 'global', 'algorithm': 'fixed_window',
                              'rate': '12/min', 'shards': 3}]}
        self.start_sluice({}, policy)
        avoid_window_edge(60)
        first = self.get('/s', {'X-API-Key': 'alice'})
        self.assertEqual(first.status, 200)
        self.assertEqual(first.header('X-RateLimit-Limit'), '4')
        self.assertEqual(first.header('X-RateLimit-Remaining'), '3')
        for _ in range(3):
            self.assertEqual(self.get('/s', {'X-API-Key': 'alice'}).status, 200)
        denied = self.get('/s', {'X-API-Key': 'alice'})
        self.assertEqual(denied.status, 429)
        self.assertEqual(denied.header('X-RateLimit-Limit'), '4')
        self.assertEqual(denied.header('X-RateLimit-Remaining'), '0')
        self.assertEqual(denied.json()['error']['limit'], 'global')
        # Alice's sub-key is empty while others still have room: some other client passes.
        others = [self.get('/s', {'X-API-Key': 'other-%d' % n}).status for n in range(12)]
        self.assertIn(200, others)
        self.assertLessEqual(others.count(200), 8)


TOKEN = 'shards-admin-token'
ADMIN = {'admin': {'token': TOKEN}}

GLOBAL_POLICY = {'limits': [{'name': 'global', 'key': 'global', 'algorithm': 'fixed_window',
                             'rate': '12/min', 'shards': 3}]}
PER_KEY_POLICY = {'limits': [{'name': 'per-key', 'key': 'api_key', 'algorithm': 'fixed_window',
                              'rate': '8/min', 'shards': 2}]}


class ShardedLimitAdminCases:
    """Peek, reset, the check API and /admin/config on a limit with `shards: N`; run on
    the memory backend (ShardedLimitAdmin) and on a redis-server (ShardedLimitAdminRedis).
    Which sub-key a client charges is asked of the gateway (?client=), and checked
    against the sub-key its traffic emptied."""

    def start(self, policy):
        raise NotImplementedError

    def admin(self, method, path, body=None):
        headers = {'Authorization': 'Bearer ' + TOKEN}
        if body is not None:
            headers['Content-Type'] = 'application/json'
            body = json.dumps(body)
        return request(self.gateway.admin_port, method, path, body, headers)

    def peek(self, path):
        r = self.admin('GET', path)
        self.assertEqual(r.status, 200, r.text)
        return r.json()

    def send(self, api_key):
        return request(self.gateway.port, 'GET', '/s', headers={'X-API-Key': api_key}).status

    def exhaust(self, api_key, share):
        self.assertEqual([self.send(api_key) for _ in range(share + 1)], [200] * share + [429])

    def test_global_limit_peek_reset_and_check_see_the_clients_sub_key(self):
        self.start(GLOBAL_POLICY)
        avoid_window_edge(60)
        self.exhaust('alice', 4)

        # No client named: every sub-key, and their sum at the top level.
        whole = self.peek('/admin/limits/global/global')
        shards = whole['shards']
        self.assertEqual([s['shard'] for s in shards], [0, 1, 2])
        self.assertEqual([s['limit'] for s in shards], [4, 4, 4])
        self.assertEqual(sorted(s['remaining'] for s in shards), [0, 4, 4])
        self.assertEqual(len({s['sub_key'] for s in shards}), 3)
        self.assertTrue(all(s['sub_key'].startswith('global#') for s in shards))
        self.assertEqual((whole['limit'], whole['remaining']), (12, 8))
        self.assertEqual((whole['name'], whole['key'], whole['algorithm']),
                         ('global', 'global', 'fixed_window'))
        emptied = next(s for s in shards if s['remaining'] == 0)

        # ?client= names the sub-key that client's requests charge: the one alice emptied.
        alice = self.peek('/admin/limits/global/global?client=key:alice')
        self.assertEqual((alice['shard'], alice['sub_key'], alice['client']),
                         (emptied['shard'], emptied['sub_key'], 'key:alice'))
        self.assertEqual((alice['limit'], alice['remaining']), (4, 0))
        self.assertNotIn('shards', alice)
        one = self.peek('/admin/limits/global/global?shard=%d' % emptied['shard'])
        self.assertEqual((one['remaining'], one['limit']), (0, 4))

        # A client on another sub-key, emptied too.
        other = next(n for n in ('key:c%d' % i for i in range(64))
                     if self.peek('/admin/limits/global/global?client=' + n)['shard'] !=
                     emptied['shard'])
        self.exhaust(other[len('key:'):], 4)

        # Resetting alice's sub-key lifts her denial, not the other client's.
        reset = self.admin('DELETE', '/admin/limits/global/global?client=key:alice')
        self.assertEqual(reset.status, 200, reset.text)
        self.assertEqual((reset.json()['shard'], reset.json()['client']),
                         (emptied['shard'], 'key:alice'))
        self.assertEqual(self.send('alice'), 200)
        self.assertEqual(self.send(other[len('key:'):]), 429)

        # Without ?client or ?shard, a reset forgets every sub-key of the key.
        reset = self.admin('DELETE', '/admin/limits/global/global')
        self.assertEqual(reset.status, 200, reset.text)
        self.assertNotIn('shard', reset.json())
        self.assertEqual(self.send(other[len('key:'):]), 200)
        after = self.peek('/admin/limits/global/global')
        self.assertEqual(sorted(s['remaining'] for s in after['shards']), [3, 4, 4])

        for bad in ('?shard=3', '?shard=-1', '?shard=x', '?shard=', '?client=',
                    '?shard=0&client=key:alice', '?client=%zz'):
            r = self.admin('GET', '/admin/limits/global/global' + bad)
            self.assertEqual(r.status, 400, bad)
            self.assertEqual(r.json()['error']['code'], 'bad_request', bad)
        self.assertEqual(self.admin('DELETE', '/admin/limits/global/global?shard=9').status, 400)

        # The check API charges the sub-key its key hashes to, with that share: 4.
        checks = [self.admin('POST', '/api/ratelimit/check', {'key': 'user:bob',
                                                              'limit': 'global'})
                  for _ in range(5)]
        self.assertEqual([r.status for r in checks], [200, 200, 200, 200, 429], checks[-1].text)
        self.assertEqual([r.json()['limit'] for r in checks], [4] * 5)
        self.assertEqual([r.json()['remaining'] for r in checks], [3, 2, 1, 0, 0])
        bob = self.peek('/admin/limits/global/user:bob?client=user:bob')
        self.assertEqual((bob['limit'], bob['remaining']), (4, 0))

        limits = self.peek('/admin/config')['policy']['limits']
        self.assertEqual(limits[0]['shards'], 3)

    def test_a_key_naming_a_client_peeks_and_resets_the_sub_key_it_charges(self):
        self.start(PER_KEY_POLICY)
        avoid_window_edge(60)
        self.exhaust('alice', 4)
        self.exhaust('bob', 4)

        # The key alice is the client key:alice: its one sub-key, without asking.
        alice = self.peek('/admin/limits/per-key/alice')
        self.assertEqual((alice['limit'], alice['remaining'], alice['client']), (4, 0, 'key:alice'))
        self.assertEqual(alice['sub_key'], 'alice#%s' % alice['sub_key'].split('#')[1])
        self.assertNotIn('shards', alice)
        listed = self.peek('/admin/limits/per-key/alice?shard=%d' % (1 - alice['shard']))
        self.assertEqual((listed['limit'], listed['remaining']), (4, 4))

        # The check API on that key charges the same sub-key as alice's requests.
        r = self.admin('POST', '/api/ratelimit/check', {'key': 'alice', 'limit': 'per-key'})
        self.assertEqual(r.status, 429, r.text)
        self.assertEqual((r.json()['limit'], r.json()['remaining']), (4, 0))

        # A reset of the key lifts alice's denial, and only hers.
        reset = self.admin('DELETE', '/admin/limits/per-key/alice')
        self.assertEqual(reset.status, 200, reset.text)
        self.assertEqual(self.send('alice'), 200)
        self.assertEqual(self.send('bob'), 429)
        self.assertEqual(self.peek('/admin/limits/per-key/alice')['remaining'], 3)
        self.assertEqual(self.peek('/admin/config')['policy']['limits'][0]['shards'], 2)


class ShardedLimitAdmin(ShardedLimitAdminCases, GatewayTestCase):
    def start(self, policy):
        self.gateway = self.start_sluice(ADMIN, policy)


class ShardedLimitAdminRedis(ShardedLimitAdminCases, RedisCase):
    def start(self, policy):
        redis = self.start_redis()
        patient = merge(ADMIN, {'storage': {'redis': {'timeout': '1s'}}})
        self.gateway = self.start_gateway(redis, policy, overrides=patient)

    def test_unsharded_limit_peek_is_unchanged(self):
        policy = {'limits': [{'name': 'per-key', 'key': 'api_key', 'algorithm': 'fixed_window',
                              'rate': '3/min'}]}
        self.start(policy)
        avoid_window_edge(60)
        self.exhaust('alice', 3)
        peek = self.peek('/admin/limits/per-key/alice?shard=1&client=x')
        self.assertEqual(set(peek), {'limit', 'remaining', 'reset_seconds', 'name', 'key',
                                     'algorithm'})
        self.assertEqual((peek['limit'], peek['remaining']), (3, 0))
        self.assertEqual(self.peek('/admin/config')['policy']['limits'][0]['shards'], 1)


if __name__ == '__main__':
    unittest.main()
