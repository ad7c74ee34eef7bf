"""In-flight limits (issue 14, `algorithm: concurrency`): at most `max` requests of a key
are in flight at once; a slot is taken when the request is admitted and given back when
its response has ended, whichever way it ends (answered, upstream failure, client gone).
Through the real binary with an upstream that holds requests at /hold until the test
opens its gate: on the memory backend, and on Redis with two gateways sharing the slots
(exact under 64-way concurrency), including a gateway killed while holding slots, whose
slots come free when their lease ends."""

import asyncio
import threading
import time
import unittest

import websockets

from harness import GatewayTestCase, RawConnection, admin_get, request, wait_for
from redis_support import RedisCase, redis_call
from ws_upstream import WebSocketUpstream


def policy(max_in_flight, lease=None):
    limit = {'name': 'in-flight', 'key': 'ip', 'algorithm': 'concurrency',
             'max': max_in_flight}
    if lease is not None:
        limit['lease'] = lease
    return {'limits': [limit,
                       # A rate limit beside it: a request must pass both.
                       {'name': 'per-ip', 'key': 'ip', 'rate': '1000/s'}]}


class InFlightChecks:
    """Shared by the memory and Redis runs; `ports` take turns."""

    def hold(self, ports, n):
        """Starts n requests to /hold (each on its own connection) spread over `ports`;
        returns (threads, statuses) — statuses fill as they end."""
        statuses = []
        lock = threading.Lock()

        def one(port):
            try:
                status = request(port, 'GET', '/hold', timeout=30).status
            except OSError:
                status = None  # its gateway was killed
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=one, args=(ports[i % len(ports)],))
                   for i in range(n)]
        for t in threads:
            t.start()
        return threads, statuses

    def finish(self, threads):
        self.upstream.open_gate()
        for t in threads:
            t.join(30)

    def assert_full(self, port, limit):
        denied = request(port, 'GET', '/other')
        self.assertEqual(denied.status, 429)
        self.assertEqual(denied.header('Retry-After'), '1')
        self.assertEqual(denied.header('X-RateLimit-Limit'), str(limit))
        self.assertEqual(denied.header('X-RateLimit-Remaining'), '0')
        self.assertEqual(denied.header('X-RateLimit-Scope'), 'in-flight')
        error = denied.json()['error']
        self.assertEqual(error['retry_after'], 1)
        self.assertIn("Too many requests in flight for 'in-flight' (at most %d at once)" % limit,
                      error['message'])

    def exactly_max_of_64(self, ports, limit):
        """64 requests at once: exactly `limit` reach the upstream, the rest get 429
        without reaching it; once answered, every slot is free again."""
        self.upstream.close_gate()
        before = self.upstream.count
        threads, statuses = self.hold(ports, 64)
        wait_for(lambda: len(statuses) == 64 - limit and self.upstream.held == limit,
                 timeout=20, message='64 - max denied, max held')
        self.assertEqual(sorted(set(statuses)), [429])
        self.assertEqual(self.upstream.count - before, limit)
        self.finish(threads)
        self.assertEqual(statuses.count(200), limit)
        self.assertEqual(statuses.count(429), 64 - limit)
        # Every slot is back: max requests at once pass again.
        self.upstream.close_gate()
        threads, statuses = self.hold(ports, limit)
        wait_for(lambda: self.upstream.held == limit, timeout=10, message='max held again')
        self.assert_full(ports[0], limit)
        self.finish(threads)
        self.assertEqual(statuses, [200] * limit)


class InFlightMemory(GatewayTestCase, InFlightChecks):
    def start(self, max_in_flight):
        gateway = self.start_sluice({}, policy(max_in_flight))
        self.addCleanup(self.upstream.open_gate)  # before the gateway stops: nothing waits
        return gateway

    def test_at_most_max_in_flight_and_slots_come_back(self):
        gateway = self.start(3)
        threads, statuses = self.hold([gateway.port], 3)
        wait_for(lambda: self.upstream.held == 3, message='3 requests held upstream')
        reached = self.upstream.count
        self.assert_full(gateway.port, 3)
        self.assertEqual(self.upstream.count, reached, 'a denied request never reaches it')
        # The admin API's peek sees the slots held.
        peek = admin_get(gateway.admin_port, '/admin/limits/in-flight/127.0.0.1').json()
        self.assertEqual((peek['limit'], peek['remaining']), (3, 0))
        self.finish(threads)
        self.assertEqual(statuses, [200] * 3)
        self.assertEqual(request(gateway.port, 'GET', '/other').status, 200)
        peek = admin_get(gateway.admin_port, '/admin/limits/in-flight/127.0.0.1').json()
        self.assertEqual(peek['remaining'], 3)
        # An allowed request's rate-limit headers describe the rate limit, not the slots.
        self.assertEqual(request(gateway.port, 'GET', '/other').header('X-RateLimit-Scope'),
                         'per-ip')
        # The check API holds no slot (no response would give it back).
        refused = request(gateway.admin_port, 'POST', '/api/ratelimit/check',
                          body=b'{"key": "k", "limit": "in-flight"}',
                          headers={'Content-Type': 'application/json'})
        self.assertEqual(refused.status, 400)
        self.assertIn('counts requests in flight', refused.json()['error']['message'])

    def test_a_client_that_has_its_response_finds_its_slot_free(self):
        """The slot goes back when the upstream's response is complete, before the client
        has the last of it: neither the admin API's peek (the control thread) nor the
        next request, on a new connection that may land on the other worker, finds the
        slot of the request before still held."""
        gateway = self.start_sluice({'server': {'threads': 2}}, policy(1))
        self.addCleanup(self.upstream.open_gate)
        refused, held = 0, 0
        for _ in range(200):
            if request(gateway.port, 'GET', '/other').status == 429:
                refused += 1
            peek = admin_get(gateway.admin_port, '/admin/limits/in-flight/127.0.0.1').json()
            if peek['remaining'] != 1:
                held += 1
        self.assertEqual((refused, held), (0, 0))

    def test_exactly_max_of_64_at_once(self):
        gateway = self.start(10)
        self.exactly_max_of_64([gateway.port], 10)

    def test_failures_and_clients_that_leave_give_their_slot_back(self):
        gateway = self.start(1)
        # The upstream closes without answering: 502, and the slot is back (a second
        # failing request is not a 429).
        self.assertEqual(request(gateway.port, 'GET', '/close').status, 502)
        self.assertEqual(request(gateway.port, 'GET', '/close').status, 502)
        # A client that leaves while its request is held: its slot stays taken while the
        # upstream works on it, and comes back when that exchange ends.
        self.upstream.close_gate()
        raw = RawConnection(gateway.port)
        raw.send('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n')
        wait_for(lambda: self.upstream.held == 1, message='the request held upstream')
        raw.sock.close()
        self.assertEqual(request(gateway.port, 'GET', '/other').status, 429)
        self.upstream.open_gate()
        wait_for(lambda: request(gateway.port, 'GET', '/other').status == 200,
                 message='the slot back once the upstream answered')
        # A body the client cuts short: the exchange fails, the slot comes back.
        raw = RawConnection(gateway.port)
        raw.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort')
        time.sleep(0.1)  # the request is admitted and streaming its body
        raw.sock.close()
        wait_for(lambda: request(gateway.port, 'GET', '/other').status == 200,
                 message='the slot back after the client left mid-body')

    def test_a_websocket_holds_its_slot_until_the_tunnel_closes(self):
        ws_upstream = WebSocketUpstream()
        self.addCleanup(ws_upstream.stop)
        gateway = self.start_sluice({}, policy(1), upstream_url=ws_upstream.url)

        def connect():
            return websockets.connect('ws://127.0.0.1:%d/echo' % gateway.port,
                                      ping_interval=None, open_timeout=10)

        async def session():
            async with connect() as ws:
                await ws.send('x')
                self.assertEqual(await ws.recv(), 'x')
                # The tunnel is open: its slot is taken.
                with self.assertRaises(websockets.InvalidStatusCode) as refused:
                    async with connect():
                        pass
                self.assertEqual(refused.exception.status_code, 429)
            # Closed: the slot comes back when Sluice sees the tunnel end.
            for _ in range(100):
                try:
                    async with connect() as again:
                        await again.send('y')
                        return await again.recv()
                except websockets.InvalidStatusCode:
                    await asyncio.sleep(0.05)
            return None

        self.assertEqual(asyncio.run(asyncio.wait_for(session(), 30)), 'y')


class InFlightRedis(RedisCase, InFlightChecks):
    def start_pair(self, redis, max_in_flight, lease=None, n=2):
        patient = {'storage': {'redis': {'timeout': '2s'}}}
        started = [self.start_gateway(redis, policy(max_in_flight, lease), overrides=patient)
                   for _ in range(n)]
        self.addCleanup(self.upstream.open_gate)
        return started

    def test_two_gateways_hold_exactly_max_of_64(self):
        redis = self.start_redis()
        gateways = self.start_pair(redis, 4)
        self.exactly_max_of_64([g.port for g in gateways], 4)
        # Every slot was released in Redis: the key's set is empty (or gone).
        wait_for(lambda: redis_call(redis.port, 'ZCARD', 'sluice:in-flight:127.0.0.1') == 0,
                 message='no slot left held in redis')

    def test_a_killed_gateways_slots_come_free_when_their_lease_ends(self):
        redis = self.start_redis()
        dying, survivor = self.start_pair(redis, 2, lease='2s')
        self.upstream.close_gate()
        threads, _ = self.hold([dying.port], 2)
        wait_for(lambda: self.upstream.held == 2, message='2 requests held upstream')
        self.assert_full(survivor.port, 2)
        leased_at = time.time()
        dying.kill()  # never releases: its slots wait for their lease
        self.assertEqual(request(survivor.port, 'GET', '/other').status, 429)
        wait_for(lambda: request(survivor.port, 'GET', '/other').status == 200, timeout=10,
                 message='the slots free after their lease')
        self.assertGreater(time.time() - leased_at, 1.5)
        self.finish(threads)

    def test_with_redis_down_slots_are_held_and_released_locally(self):
        redis = self.start_redis()
        (gateway,) = self.start_pair(redis, 1, n=1)
        redis.stop()
        # storage.on_error: local: the in-process store holds the slot, and gets it back
        # when the failed exchange ends (a second failing request is not a 429).
        self.assertEqual(request(gateway.port, 'GET', '/close').status, 502)
        self.assertEqual(request(gateway.port, 'GET', '/close').status, 502)
        self.upstream.close_gate()
        threads, statuses = self.hold([gateway.port], 1)
        wait_for(lambda: self.upstream.held == 1, message='1 request held upstream')
        self.assert_full(gateway.port, 1)
        self.finish(threads)
        self.assertEqual(statuses, [200])


if __name__ == '__main__':
    unittest.main()
