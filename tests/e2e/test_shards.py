"""`shards: N` on a limit with the memory backend: the budget split over N sub-keys, each
client charging its own; whatever the clients, the whole never admits more than the
configured rate, and the headers describe the client's sub-key."""

import json
import unittest

from harness import GatewayTestCase, avoid_window_edge, hammer, request


def spread(port, clients, per_client):
    """`clients` keep-alive connections, each with its own API key, released together,
    each sending `per_client` requests; returns every response status."""
    return hammer([port], clients, per_client, '/s',
                  headers_of=lambda n: {'X-API-Key': 'client-%d' % n})


class ShardedGlobalLimit(GatewayTestCase):
    def test_many_clients_never_get_more_than_the_configured_rate(self):
        policy = {'limits': [{'name': 'global', 'key': 'global', 'algorithm': 'fixed_window',
                              'rate': '100/min', 'shards': 4}]}
        self.start_sluice({'server': {'threads': 4}}, policy)
        avoid_window_edge(60)
        statuses = spread(self.sluice.port, 64, 8)
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
        statuses = spread(self.sluice.port, 48, 4)
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


class ShardedLimitAdmin(GatewayTestCase):
    """Peek, reset, the check API and /admin/config on a limit with `shards: N`."""

    def admin(self, method, path, body=None):
        headers = {'Authorization': 'Bearer ' + TOKEN}
        if body is not None:
            headers['Content-Type'] = 'application/json'
            body = json.dumps(body)
        return request(self.sluice.admin_port, method, path, body, headers)

    def test_peek_reset_and_check_see_the_sub_keys(self):
        policy = {'limits': [{'name': 'global', 'key': 'global', 'algorithm': 'fixed_window',
                              'rate': '12/min', 'shards': 3}]}
        self.start_sluice({'admin': {'token': TOKEN}}, policy)
        avoid_window_edge(60)
        for _ in range(4):
            self.assertEqual(self.get('/s', {'X-API-Key': 'alice'}).status, 200)
        self.assertEqual(self.get('/s', {'X-API-Key': 'alice'}).status, 429)

        # Every sub-key: each holds a third of the budget; alice's is empty.
        peek = self.admin('GET', '/admin/limits/global/global')
        self.assertEqual(peek.status, 200, peek.text)
        shards = peek.json()['shards']
        self.assertEqual([s['shard'] for s in shards], [0, 1, 2])
        self.assertEqual([s['limit'] for s in shards], [4, 4, 4])
        self.assertEqual(sorted(s['remaining'] for s in shards), [0, 4, 4])
        self.assertEqual(len({s['sub_key'] for s in shards}), 3)
        alice = next(s['shard'] for s in shards if s['remaining'] == 0)
        one = self.admin('GET', '/admin/limits/global/global?shard=%d' % alice).json()
        self.assertEqual((one['shard'], one['remaining'], one['limit']), (alice, 0, 4))
        self.assertEqual(self.admin('GET', '/admin/limits/global/global?shard=3').status, 400)
        self.assertEqual(self.admin('GET', '/admin/limits/global/global?shard=x').status, 400)

        # Resetting alice's sub-key lets her through again.
        reset = self.admin('DELETE', '/admin/limits/global/global?shard=%d' % alice)
        self.assertEqual(reset.status, 200, reset.text)
        self.assertEqual(self.get('/s', {'X-API-Key': 'alice'}).status, 200)

        # The check API charges the sub-key its key hashes to, with that sub-key's share.
        r = self.admin('POST', '/api/ratelimit/check', {'key': 'user:bob', 'limit': 'global'})
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual((r.json()['limit'], r.json()['remaining']), (4, 3))

        # A reset without ?shard forgets every sub-key.
        self.assertEqual(self.admin('DELETE', '/admin/limits/global/global').status, 200)
        after = self.admin('GET', '/admin/limits/global/global').json()['shards']
        self.assertEqual([s['remaining'] for s in after], [4, 4, 4])

        limits = self.admin('GET', '/admin/config').json()['policy']['limits']
        self.assertEqual(limits[0]['shards'], 3)


if __name__ == '__main__':
    unittest.main()
