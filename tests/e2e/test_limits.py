"""Decisions through the gateway (SPEC 3-5): exact admission under concurrency, route
costs, tiers by API key, shadow limits, allow and deny lists, bypass routes."""

import json
import socket
import threading
import time
import unittest

from harness import GatewayTestCase, avoid_window_edge, hammer


class ExactAdmission(GatewayTestCase):
    def test_64_connections_against_100_per_minute_admit_exactly_100(self):
        policy = {'limits': [{'name': 'hundred', 'key': 'global', 'algorithm': 'fixed_window',
                              'rate': '100/min'}]}
        self.start_sluice({'server': {'threads': 4}}, policy)
        avoid_window_edge(60)
        statuses = hammer([self.sluice.port], 64, 4)
        self.assertEqual(statuses.count(200), 100)
        self.assertEqual(statuses.count(429), 156)
        self.assertEqual(self.upstream.count, 100)
        m = self.metrics()
        self.assertEqual(m.total('rate_limit_requests_allowed_total'), 100)
        self.assertEqual(m.total('rate_limit_requests_blocked_total', reason='hundred'), 156)

    def test_token_bucket_burst_under_concurrency(self):
        policy = {'limits': [{'name': 'burst', 'key': 'ip', 'rate': '1/1d', 'burst': 50}]}
        self.start_sluice({'server': {'threads': 4}}, policy)
        statuses = hammer([self.sluice.port], 32, 3)
        self.assertEqual(statuses.count(200), 50)
        self.assertEqual(statuses.count(429), 46)


class RejectedBodies(GatewayTestCase):
    """A rejected request's body is read and dropped, so the next request on the
    connection is not mistaken for part of it (no request smuggling)."""

    def setUp(self):
        super().setUp()
        self.start_sluice({}, {
            'access': {'deny': {'api_keys': ['key-banned']}},
            'limits': [{'name': 'one', 'key': 'ip', 'rate': '1/1h', 'burst': 1}]})
        self.assertEqual(self.get('/spend').status, 200)

    def test_small_bodies_are_discarded_and_the_connection_kept(self):
        conn = self.raw()
        smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
        conn.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s'
                  % (len(smuggled), smuggled))
        conn.send('POST /b HTTP/1.1\r\nHost: x\r\nX-API-Key: key-banned\r\n'
                  'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
        self.assertEqual(conn.read_response().status, 429)
        self.assertEqual(conn.read_response().status, 403)
        self.assertFalse(conn.is_closed(timeout=0.3))
        self.assertEqual([r.path for r in self.upstream.requests], ['/spend'])

    def test_head_request_rejections_have_no_body(self):
        conn = self.raw()
        conn.send('HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n'
                  'HEAD /b HTTP/1.1\r\nHost: x\r\nX-API-Key: key-banned\r\n\r\n'
                  'GET /c HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response(head_request=True).status, 429)
        self.assertEqual(conn.read_response(head_request=True).status, 403)
        # Had either carried its JSON body, this would read it as a status line.
        last = conn.read_response()
        self.assertEqual(last.status, 429)
        self.assertEqual(last.json()['error']['code'], 'rate_limit_exceeded')

    def test_expect_100_continue_is_answered_at_once_when_rejected(self):
        conn = self.raw(timeout=2)
        conn.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
                  'Expect: 100-continue\r\n\r\n')
        started = time.monotonic()
        response = conn.read_response()  # the body is never sent
        self.assertEqual(response.status, 429)
        self.assertLess(time.monotonic() - started, 1)

    def test_answers_the_socket_cannot_take_at_once_arrive_whole_and_in_order(self):
        # A client that pipelines thousands of requests and reads nothing for a while:
        # the 429s fill the socket's buffers, so Sluice sends the rest of an answer later
        # (asynchronously) and must neither lose nor interleave bytes.
        # 20,000 answers of ~700 bytes are more than the kernel buffers both ways hold
        # (net.ipv4.tcp_wmem allows at most 4 MiB).
        count = 20000
        conn = self.raw(timeout=30)
        # A fixed receive buffer: no autotuning lets the client's side absorb them.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        request = b'GET /p HTTP/1.1\r\nHost: x\r\n\r\n'
        sender = threading.Thread(target=conn.sock.sendall, args=(request * count,))
        sender.start()
        time.sleep(0.5)  # nothing read meanwhile: the answers back up
        chunks = []
        conn.sock.settimeout(2)
        try:
            while True:
                data = conn.sock.recv(1 << 20)
                if not data:
                    break
                chunks.append(data)
        except socket.timeout:
            pass  # every answer came; the connection stays open
        sender.join(timeout=30)
        stream = b''.join(chunks)
        self.assertGreater(len(stream), 8 << 20)
        answers, pos = 0, 0
        while pos < len(stream):
            head_end = stream.index(b'\r\n\r\n', pos)
            head = stream[pos:head_end].decode('latin-1').split('\r\n')
            self.assertEqual(head[0], 'HTTP/1.1 429 Too Many Requests', answers)
            length = [int(line.split(':', 1)[1]) for line in head
                      if line.lower().startswith('content-length:')]
            self.assertEqual(len(length), 1, head)
            body = json.loads(stream[head_end + 4:head_end + 4 + length[0]])
            self.assertEqual(body['error']['code'], 'rate_limit_exceeded', answers)
            pos = head_end + 4 + length[0]
            answers += 1
        self.assertEqual(answers, count)
        self.assertEqual([r.path for r in self.upstream.requests], ['/spend'])

    def test_large_bodies_close_the_connection(self):
        conn = self.raw()
        conn.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n')
        self.assertEqual(conn.read_response().status, 429)
        self.assertTrue(conn.is_closed())


class Shaping(GatewayTestCase):
    def test_leaky_bucket_delay_holds_excess_requests_instead_of_rejecting(self):
        policy = {'limits': [{'name': 'smooth', 'key': 'ip', 'algorithm': 'leaky_bucket',
                              'rate': '10/s', 'burst': 1, 'delay': '250ms'}]}
        self.start_sluice({}, policy)
        started = time.monotonic()
        statuses = [self.get('/shape').status for _ in range(3)]
        elapsed = time.monotonic() - started
        self.assertEqual(statuses, [200, 200, 200])
        self.assertGreaterEqual(elapsed, 0.18)  # two requests held ~100 ms each
        m = self.metrics()
        self.assertEqual(m.value('rate_limit_delayed_total', scope='smooth'), 2)
        # A burst beyond what the delay can absorb is still rejected.
        statuses = hammer([self.sluice.port], 8, 1, '/shape')
        self.assertIn(429, statuses)


class Costs(GatewayTestCase):
    POLICY = {
        'routes': [
            {'name': 'ocr', 'match': 'POST /ocr/*', 'cost': 10},
            {'name': 'batch', 'match': 'POST /batch', 'cost': 50},
        ],
        'limits': [
            {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 30, 'routes': ['ocr']},
            {'name': 'requests', 'key': 'ip', 'rate': '1/1h', 'burst': 100, 'count': 'requests'},
            # Keyed on the API key, so it does not apply to every batch request and
            # --check-config accepts the cost above its capacity.
            {'name': 'per-key', 'key': 'api_key', 'rate': '1/1h', 'burst': 30,
             'routes': ['batch']},
        ],
    }

    def setUp(self):
        super().setUp()
        self.start_sluice({'headers': {'legacy': True, 'legacy_reset': 'delta'}}, self.POLICY)

    def test_route_cost_is_charged(self):
        remaining = []
        for _ in range(3):
            response = self.request('POST', '/ocr/page', body=b'x')
            self.assertEqual(response.status, 200)
            remaining.append(response.header('X-RateLimit-Remaining'))
        self.assertEqual(remaining, ['20', '10', '0'])
        denied = self.request('POST', '/ocr/page', body=b'x')
        self.assertEqual(denied.status, 429)
        self.assertEqual(denied.json()['error']['limit'], 'per-ip')
        # A count: requests limit charged 1 per request, not the cost.
        self.assertEqual(self.get('/other').header('X-RateLimit-Remaining'), '96')

    def test_cost_above_capacity_is_denied_with_the_exceeds_message(self):
        response = self.request('POST', '/batch', headers={'X-API-Key': 'key-big'})
        self.assertEqual(response.status, 429)
        error = response.json()['error']
        self.assertEqual(error['limit'], 'per-key')
        self.assertEqual(error['message'],
                         "Request cost 50 exceeds the capacity of limit 'per-key' (30); "
                         "it can never pass.")
        self.assertGreaterEqual(error['retry_after'], 1)
        self.assertEqual(self.upstream.count, 0)
        # Without a key the limit does not apply: the same route passes.
        self.assertEqual(self.request('POST', '/batch').status, 200)


class Tiers(GatewayTestCase):
    POLICY = {
        'tiers': {
            'free': {'rate': '1/1h', 'burst': 2},
            'pro': {'rate': '1/1h', 'burst': 5},
            'enterprise': {'unlimited': True},
        },
        'clients': {
            'default_tier': 'free',
            'api_keys': {
                'key-free-0001': {'tier': 'free'},
                'key-pro-00001': {'tier': 'pro'},
                'key-ent-00001': {'tier': 'enterprise'},
            },
        },
        'limits': [{'name': 'per-client', 'key': 'client', 'tier': True}],
    }

    def setUp(self):
        super().setUp()
        self.start_sluice({}, self.POLICY)

    def admitted(self, n, path='/t', headers=None):
        return [self.get(path, headers).status for _ in range(n)].count(200)

    def test_tier_from_the_api_key_header(self):
        self.assertEqual(self.admitted(8, headers={'X-API-Key': 'key-pro-00001'}), 5)
        self.assertEqual(self.admitted(8, headers={'X-API-Key': 'key-free-0001'}), 2)

    def test_tier_from_the_api_key_query_parameter(self):
        self.assertEqual(self.admitted(8, '/t?x=1&api_key=key-pro-00001'), 5)
        # Same key, same client: header and query share one bucket.
        self.assertEqual(self.admitted(1, headers={'X-API-Key': 'key-pro-00001'}), 0)

    def test_unlimited_tier_is_never_limited(self):
        self.assertEqual(self.admitted(20, headers={'X-API-Key': 'key-ent-00001'}), 20)

    def test_clients_without_key_get_the_default_tier(self):
        self.assertEqual(self.admitted(4), 2)

    def test_tier_header_from_an_untrusted_peer_is_ignored(self):
        self.assertEqual(self.admitted(4, headers={'X-Client-Tier': 'enterprise'}), 2)

    def test_tier_header_from_a_trusted_proxy_is_honoured(self):
        self.sluice.stop()
        self.sluice = None
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}}, self.POLICY)
        self.assertEqual(self.admitted(6, headers={'X-Client-Tier': 'pro'}), 5)

    def test_tier_metrics(self):
        self.admitted(3, headers={'X-API-Key': 'key-pro-00001'})
        self.admitted(3)
        m = self.metrics()
        self.assertEqual(m.value('rate_limit_requests_by_tier_total', tier='pro'), 3)
        self.assertEqual(m.value('rate_limit_requests_by_tier_total', tier='free'), 3)
        self.assertEqual(m.value('rate_limit_blocked_by_tier_total', tier='free'), 1)
        self.assertEqual(m.value('rate_limit_blocked_by_tier_total', tier='pro'), 0)


class Shadow(GatewayTestCase):
    def test_shadow_limit_never_rejects_but_is_counted(self):
        policy = {'limits': [
            {'name': 'enforced', 'key': 'ip', 'rate': '1/1h', 'burst': 100},
            {'name': 'trial', 'key': 'ip', 'rate': '1/1h', 'burst': 2, 'shadow': True},
        ]}
        self.start_sluice({'headers': {'legacy': True, 'standard': 'draft-10'}}, policy)
        for _ in range(5):
            response = self.get('/s')
            self.assertEqual(response.status, 200)
            self.assertEqual(response.header('X-RateLimit-Scope'), 'enforced')
            self.assertNotIn('trial', response.header('RateLimit-Policy'))
        m = self.metrics()
        self.assertEqual(m.value('rate_limit_shadow_blocked_total', scope='trial'), 3)
        self.assertEqual(m.value('rate_limit_shadow_blocked_total', scope='enforced'), 0)
        self.assertEqual(m.total('rate_limit_requests_blocked_total'), 0)
        self.assertEqual(self.upstream.count, 5)


class AccessLists(GatewayTestCase):
    POLICY = {
        'access': {
            'allow': {'ips': [], 'api_keys': ['key-partner'], 'users': ['trusted-user']},
            'deny': {'ips': ['203.0.113.0/24'], 'api_keys': ['key-banned'], 'users': ['mallory']},
        },
        'routes': [{'name': 'free', 'match': '/free/**', 'limits': 'off'}],
        'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 1}],
    }

    def setUp(self):
        super().setUp()
        # The user lists need a user header Sluice believes: from a trusted proxy.
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}}, self.POLICY)

    def test_deny_list_gets_403_json_and_never_reaches_the_upstream(self):
        for headers in ({'X-API-Key': 'key-banned'}, {'X-User-ID': 'mallory'}):
            with self.subTest(headers=headers):
                response = self.get('/d', headers)
                self.assertErrorBody(response, 403, 'forbidden')
                self.assertEqual(response.text,
                                 '{"error":{"code":"forbidden","message":"Access denied"}}')
        self.assertEqual(self.get('/d?api_key=key-banned').status, 403)
        self.assertEqual(self.upstream.count, 0)

    def test_deny_list_wins_on_a_bypass_route(self):
        self.assertEqual(self.get('/free/x', {'X-API-Key': 'key-banned'}).status, 403)

    def test_allow_listed_clients_are_never_limited(self):
        self.assertEqual(self.get('/a').status, 200)
        self.assertEqual(self.get('/a').status, 429)  # the address is spent...
        for headers in ({'X-API-Key': 'key-partner'}, {'X-User-ID': 'trusted-user'}):
            for _ in range(5):
                response = self.get('/a', headers)
                self.assertEqual(response.status, 200)  # ...but these skip every limit
                self.assertFalse(response.has_header('X-RateLimit-Limit'))

    def test_bypass_route_is_never_limited(self):
        for _ in range(5):
            self.assertEqual(self.get('/free/asset.css').status, 200)
        self.assertEqual(self.get('/limited').status, 200)
        self.assertEqual(self.get('/limited').status, 429)

    def test_deny_list_metrics(self):
        self.get('/d', {'X-API-Key': 'key-banned'})
        m = self.metrics()
        self.assertEqual(m.value('rate_limit_requests_blocked_total', route='default',
                                 method='GET', reason='denylist'), 1)
        self.assertEqual(m.value('gateway_http_errors_total', code='403'), 1)


if __name__ == '__main__':
    unittest.main()
