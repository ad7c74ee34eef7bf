"""Redis Cluster mode (storage.redis.mode: cluster, issue 10), end to end on real
clusters (redis-server --cluster-enabled, redis-cli --cluster create) on free loopback
ports, stopped by PID. Two gateways share the limits:
- per-client, per-ip and composite limits are exact, their keys spread over the masters
  in the layout <prefix>{<key>}:<limit>;
- requests whose limits span slots (global + per-client) never over-admit under 64-way
  concurrency, and once the refunds are in, every key holds exactly what the admitted
  requests took (denied requests keep no charge);
- a slot migrated mid-traffic (CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT
  NODE) fails no request;
- a master killed (3 masters + 3 replicas): only the requests with keys in its slots
  follow storage.on_error (deny: 503) until its replica is promoted, then they decide
  on the new master by themselves, the Functions library there (replicated, or loaded:
  rate_limit_redis_code_loads_total); the other shards decide throughout."""

import concurrent.futures
import threading
import time
import types
import unittest

from harness import request, wait_for
from redis_support import RedisCase, code_loads, redis_call, redis_state, stats

BURST = 5
POLICY = {
    'routes': [
        {'name': 'client', 'match': 'GET /client/**'},
        {'name': 'ip', 'match': 'GET /ip/**'},
        {'name': 'combo', 'match': 'GET /combo/**'},
        {'name': 'multi', 'match': 'GET /multi/**'},
        {'name': 'open', 'match': 'GET /open/**'},
        {'name': 'held', 'match': 'GET /hold'},
    ],
    'limits': [
        {'name': 'per-client', 'key': 'client', 'rate': '1/1h', 'burst': BURST,
         'routes': ['client']},
        {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': BURST, 'routes': ['ip']},
        {'name': 'composite', 'key': ['api_key', 'route'], 'rate': '1/1h', 'burst': BURST,
         'routes': ['combo']},
        # Across slots: the global key's slot and each client's.
        {'name': 'global', 'key': 'global', 'algorithm': 'fixed_window', 'rate': '30/1h',
         'routes': ['multi']},
        {'name': 'multi-client', 'key': 'client', 'algorithm': 'fixed_window', 'rate': '10/1h',
         'routes': ['multi']},
        {'name': 'roomy', 'key': 'client', 'rate': '1/1h', 'burst': 100000,
         'routes': ['open']},
        # Across slots with an in-flight limit: the global slots' slot and each client's.
        {'name': 'global-in-flight', 'key': 'global', 'algorithm': 'concurrency', 'max': 3,
         'routes': ['held']},
        {'name': 'held-client', 'key': 'client', 'rate': '1/1h', 'burst': BURST,
         'routes': ['held'], 'cost': {'response_header': 'X-Usage-Tokens', 'reserve': 1}},
    ],
}
GLOBAL_LIMIT = 30
CLIENT_LIMIT = 10
TIMEOUT = '1s'  # generous: a slow machine never times out while Redis answers


def key(name):
    return {'X-API-Key': name}


def api_keys_on(cluster, port, limit, count, stem):
    """`count` API keys whose <prefix>{key:<k>}:<limit> key lives on master `port`."""
    out = []
    i = 0
    while len(out) < count:
        name = '%s%d' % (stem, i)
        if cluster.key_port('sluice:{key:%s}:%s' % (name, limit)) == port:
            out.append(name)
        i += 1
    return out


class RedisClusterMode(RedisCase):

    def start_cluster_gateway(self, cluster, on_error='deny'):
        seeds = types.SimpleNamespace(address=cluster.addresses[0])
        return self.start_gateway(seeds, POLICY, on_error=on_error, overrides={'storage': {
            'redis': {'mode': 'cluster', 'address': cluster.addresses, 'timeout': TIMEOUT}}})

    def round(self, gateways, path, headers=None, requests=12):
        return [request(gateways[i % len(gateways)].port, 'GET', path, headers=headers).status
                for i in range(requests)]

    def assertExact(self, statuses, label):
        self.assertEqual(statuses.count(200), BURST, (label, statuses))
        self.assertEqual(statuses.count(429), len(statuses) - BURST, (label, statuses))

    def peek(self, gateway, limit, key_text):
        r = request(gateway.admin_port, 'GET', '/admin/limits/%s/%s' % (limit, key_text))
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_two_gateways_exact_across_shards_and_across_slots(self):
        cluster = self.start_cluster()
        a = self.start_cluster_gateway(cluster)
        b = self.start_cluster_gateway(cluster)
        self.assertIn('storage redis cluster mode, seeds ' + ','.join(cluster.addresses),
                      a.stderr())

        # Per-client: two keys on each master, each exact over both gateways.
        masters = cluster.master_ports()
        self.assertEqual(len(masters), 3)
        for port in masters:
            for name in api_keys_on(cluster, port, 'per-client', 2, 'c%d-' % port):
                self.assertExact(self.round([a, b], '/client/x', key(name)), name)
                # The layout: the identity is the hash tag; the key is on its slot's master.
                self.assertIn('sluice:{key:%s}:per-client' % name, redis_state(port))
        # Per-ip (both gateways see 127.0.0.1) and composite ([api_key, route]).
        self.assertExact(self.round([a, b], '/ip/x'), 'per-ip')
        self.assertTrue(any(k.startswith('sluice:{127.0.0.1}:per-ip')
                            for k in redis_state(cluster.key_port('sluice:{127.0.0.1}:per-ip'))))
        for name in ('combo-1', 'combo-2', 'combo-3'):
            self.assertExact(self.round([a, b], '/combo/x', key(name)), name)

        # Across slots, 64 at once: never more than either limit admits.
        clients = ['m%d' % i for i in range(8)]
        slots = {cluster.key_port('sluice:{key:%s}:multi-client' % c) for c in clients}
        self.assertGreater(len(slots | {cluster.key_port('sluice:{global}:global')}), 1)
        jobs = [(i, clients[i % len(clients)]) for i in range(160)]
        lock = threading.Lock()
        admitted = {c: 0 for c in clients}
        statuses = []

        def one(job):
            i, client = job
            r = request((a, b)[i % 2].port, 'GET', '/multi/x', headers=key(client))
            with lock:
                statuses.append(r.status)
                admitted[client] += r.status == 200

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            list(pool.map(one, jobs))
        total = sum(admitted.values())
        print('\n  across slots: %d of 160 admitted (global limit %d, per client %d): %s'
              % (total, GLOBAL_LIMIT, CLIENT_LIMIT, sorted(admitted.values())))
        self.assertEqual(set(statuses) - {200, 429}, set(), statuses)
        self.assertLessEqual(total, GLOBAL_LIMIT)
        for client, n in admitted.items():
            self.assertLessEqual(n, CLIENT_LIMIT, client)
        self.assertGreater(total, 0)
        # The refunds are sent when the 429 is; once they are in, each key holds what the
        # admitted requests took, and nothing for the denied ones.
        def settled():
            return (self.peek(a, 'global', 'global')['remaining'] == GLOBAL_LIMIT - total and
                    all(self.peek(a, 'multi-client', 'key:' + c)['remaining'] ==
                        CLIENT_LIMIT - admitted[c] for c in clients))
        wait_for(settled, timeout=5, message='refunds to leave exactly the admitted charges')
        for g in (a, b):
            storage = stats(g)['storage']
            self.assertTrue(storage['reachable'])
            self.assertFalse(storage['degraded'])

        # Every master lost the library (FUNCTION FLUSH): the first call that finds it
        # missing loads it on every master, so no other call pays for it (nor an ASK to
        # a master that never ran a decision).
        loads = code_loads(a, 'function') + code_loads(b, 'function')
        for port in masters:
            redis_call(port, 'FUNCTION', 'FLUSH')
        name = api_keys_on(cluster, masters[0], 'roomy', 1, 'lib-')[0]
        self.assertEqual(request(a.port, 'GET', '/open/x', headers=key(name)).status, 200)
        for port in masters:
            self.assertEqual(len(redis_call(port, 'FUNCTION', 'LIST')), 1, port)
        self.assertEqual(code_loads(a, 'function') + code_loads(b, 'function'), loads + 3)

    def test_in_flight_slots_and_response_costs_across_slots(self):
        cluster = self.start_cluster()
        a = self.start_cluster_gateway(cluster)
        b = self.start_cluster_gateway(cluster)
        self.addCleanup(self.upstream.open_gate)
        slots_key = 'sluice:{global}:global-in-flight'
        clients = [c for c in ('h%d' % i for i in range(40))
                   if cluster.key_port('sluice:{key:%s}:held-client' % c) !=
                   cluster.key_port(slots_key)][:4]
        self.upstream.close_gate()
        statuses = []

        def hold(i):
            statuses.append(request((a, b)[i % 2].port, 'GET', '/hold?set-header=X-Usage-Tokens:3',
                                    headers=key(clients[i]), timeout=30).status)

        threads = [threading.Thread(target=hold, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: self.upstream.held == 3, message='3 requests held upstream')
        self.assertEqual(redis_call(cluster.key_port(slots_key), 'ZCARD', slots_key), 3)
        # A fourth client: its own slot admits, the global slots deny; its charge is
        # refunded, so it holds nothing anywhere.
        denied = request(a.port, 'GET', '/hold', headers=key(clients[3]))
        self.assertEqual(denied.status, 429)
        self.assertEqual(denied.header('X-RateLimit-Scope'), 'global-in-flight')
        wait_for(lambda: self.peek(b, 'held-client', 'key:' + clients[3])['remaining'] == BURST,
                 message='the refund of the admitting slot')
        self.upstream.open_gate()
        for t in threads:
            t.join(30)
        self.assertEqual(statuses, [200] * 3)
        # Each response gave its slot back on the master holding the global key, and
        # settled its client's cost (3, reserved 1) on that client's master.
        wait_for(lambda: redis_call(cluster.key_port(slots_key), 'ZCARD', slots_key) == 0,
                 message='every slot released')
        for client in clients[:3]:
            wait_for(lambda: self.peek(a, 'held-client', 'key:' + client)['remaining'] ==
                     BURST - 3, message='the cost settled on its slot')

    def test_a_slot_migrated_mid_traffic_fails_no_request(self):
        cluster = self.start_cluster()
        a = self.start_cluster_gateway(cluster)
        b = self.start_cluster_gateway(cluster)
        masters = cluster.master_ports()
        # Every master has the library before the move (a request on a key of each).
        for port in masters:
            for name in api_keys_on(cluster, port, 'roomy', 1, 'w%d-' % port):
                self.assertEqual(request(a.port, 'GET', '/open/x', headers=key(name)).status,
                                 200)
        moving = 'mover'
        tag_key = 'sluice:{key:%s}:roomy' % moving
        slot = int(redis_call(masters[0], 'CLUSTER', 'KEYSLOT', tag_key))
        source = cluster.slot_owner(slot)
        target = next(p for p in masters if p != source)
        source_id = redis_call(source, 'CLUSTER', 'MYID')
        target_id = redis_call(target, 'CLUSTER', 'MYID')

        stop = threading.Event()
        results = []

        def traffic(g, names):
            i = 0
            while not stop.is_set():
                name = names[i % len(names)]
                results.append((name, request(g.port, 'GET', '/open/x', headers=key(name)).status))
                i += 1

        threads = [threading.Thread(target=traffic, args=(g, [moving, moving, 'other']))
                   for g in (a, b)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            redis_call(target, 'CLUSTER', 'SETSLOT', str(slot), 'IMPORTING', source_id)
            redis_call(source, 'CLUSTER', 'SETSLOT', str(slot), 'MIGRATING', target_id)
            time.sleep(0.3)
            keys = redis_call(source, 'CLUSTER', 'GETKEYSINSLOT', str(slot), '100')
            self.assertIn(tag_key, keys)
            self.assertEqual(redis_call(source, 'MIGRATE', '127.0.0.1', str(target), '', '0',
                                        '5000', 'KEYS', *keys), 'OK')
            time.sleep(0.3)
            for port in masters:
                redis_call(port, 'CLUSTER', 'SETSLOT', str(slot), 'NODE', target_id)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        moved = [s for n, s in results if n == moving]
        print('\n  slot %d moved %d -> %d under traffic: %d requests on its key, %d in all'
              % (slot, source, target, len(moved), len(results)))
        self.assertGreater(len(moved), 20)
        self.assertEqual([r for r in results if r[1] != 200], [])
        self.assertEqual(cluster.key_port(tag_key), target)
        self.assertIn(tag_key, redis_state(target))
        self.assertNotIn(tag_key, redis_state(source))

    def test_a_killed_master_fails_over_and_only_its_slots_follow_on_error(self):
        # Without this, Redis itself answers CLUSTERDOWN for every slot while one is
        # uncovered (between the master's FAIL and its replica's promotion).
        cluster = self.start_cluster(replicas=1,
                                     extra_args=['--cluster-require-full-coverage', 'no'])
        a = self.start_cluster_gateway(cluster, on_error='deny')
        b = self.start_cluster_gateway(cluster, on_error='deny')
        masters = cluster.master_ports()
        keys_by_master = {p: api_keys_on(cluster, p, 'roomy', 1, 'f%d-' % p)[0] for p in masters}
        for name in keys_by_master.values():
            for g in (a, b):
                self.assertEqual(request(g.port, 'GET', '/open/x', headers=key(name)).status,
                                 200)
        victim = masters[0]
        victim_key = keys_by_master[victim]
        loads_before = code_loads(a, 'function') + code_loads(b, 'function')

        killed = time.monotonic()
        cluster.kill(victim)
        during = []
        recovered = {}
        while len(recovered) < 2 and time.monotonic() < killed + 30:
            for gname, g in (('a', a), ('b', b)):
                for port, name in keys_by_master.items():
                    started = time.monotonic()
                    r = request(g.port, 'GET', '/open/x', headers=key(name), timeout=10)
                    during.append((gname, port, r.status, time.monotonic() - started, r))
                    if port == victim and r.status == 200 and gname not in recovered:
                        recovered[gname] = time.monotonic() - killed
            time.sleep(0.02)
        self.assertEqual(set(recovered), {'a', 'b'}, 'both gateways decide again on its slots')
        cluster.wait_ok()
        new = cluster.key_port('sluice:{key:%s}:roomy' % victim_key)
        self.assertNotEqual(new, victim)
        denied = [d for d in during if d[2] == 503]
        print('\n  failover: decisions on the killed master\'s slots resumed %.2f s (a) and '
              '%.2f s (b) after the kill; %d requests, %d answered 503 in between'
              % (recovered['a'], recovered['b'], len(during), len(denied)))
        for gname, port, status, elapsed, r in during:
            self.assertLess(elapsed, 3.0, (gname, port, status))
            if port != victim:
                # The other shards kept deciding on Redis.
                self.assertEqual(status, 200, (gname, port, r))
            else:
                self.assertIn(status, (200, 503), (gname, status, r))
                if status == 503:
                    self.assertErrorBody(r, 503, 'storage_unavailable')
        self.assertGreater(len(denied), 0, 'the dead shard followed on_error meanwhile')
        # The library is on the promoted replica: replicated from the old master, or
        # loaded there by a gateway (counted).
        libraries = redis_call(new, 'FUNCTION', 'LIST')
        self.assertTrue(any('sluice_' in str(item) for item in libraries), libraries)
        loads = code_loads(a, 'function') + code_loads(b, 'function') - loads_before
        print('  library on the new master %d; FUNCTION LOADs by the gateways meanwhile: %d'
              % (new, loads))
        # Exact again there, on a fresh key of that slot range.
        fresh = api_keys_on(cluster, new, 'per-client', 1, 'after-')[0]
        self.assertExact(self.round([a, b], '/client/x', key(fresh)), 'after failover')
        self.assertIn('sluice:{key:%s}:per-client' % fresh, redis_state(new))
        for g in (a, b):
            wait_for(lambda: not stats(g)['storage']['degraded'], timeout=5,
                     message='no shard degraded after the failover')


if __name__ == '__main__':
    unittest.main()
