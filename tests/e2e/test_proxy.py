"""Proxying (SPEC 4 step 7): methods, targets, bodies both ways, headers, framing,
connection reuse and pipelining, through the real gateway and a real upstream."""

import hashlib
import time
import unittest

from harness import GatewayTestCase
from upstream import pattern_bytes, pattern_sha256

MiB = 1024 * 1024


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def pieces(data, size=64 * 1024):
    """An iterable body, which http.client sends chunked."""
    for offset in range(0, len(data), size):
        yield data[offset:offset + size]


class MethodsAndTargets(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice()

    def test_every_method_reaches_the_upstream_unchanged(self):
        for method in ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PURGE']:
            with self.subTest(method=method):
                response = self.request(method, '/things/1')
                self.assertEqual(response.status, 200)
                self.assertEqual(response.json()['method'], method)
                self.assertEqual(self.upstream.last().method, method)

    def test_path_and_query_string_are_forwarded_byte_for_byte(self):
        target = '/a/b%20c/./d?x=1&y=%2F&empty=&flag&x=2'
        echo = self.get(target).json()
        self.assertEqual(echo['path'], '/a/b%20c/./d')
        self.assertEqual(echo['query'], 'x=1&y=%2F&empty=&flag&x=2')

    def test_absolute_form_target_is_reduced_to_origin_form(self):
        _, response = self.exchange('GET http://example.com/abs/path?q=1 HTTP/1.1\r\n'
                                    'Host: example.com\r\n\r\n')
        self.assertEqual(response.status, 200)
        self.assertEqual(self.upstream.last().target, '/abs/path?q=1')

    def test_head_returns_the_headers_without_a_body(self):
        conn = self.raw()
        conn.send('HEAD /bytes/1000 HTTP/1.1\r\nHost: x\r\n\r\n')
        head = conn.read_response(head_request=True)
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header('Content-Length'), '1000')
        # The connection stays in sync: the next response is not mistaken for a body.
        conn.send('GET /bytes/10 HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response().body, pattern_bytes(10))
        self.assertEqual(self.upstream.requests[0].method, 'HEAD')


class Bodies(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'server': {'max_body_bytes': '64MiB'}})

    def assertUploaded(self, response, data):
        self.assertEqual(response.status, 200, response)
        echo = response.json()
        self.assertEqual(echo['body_length'], len(data))
        self.assertEqual(echo['body_sha256'], sha256(data))

    def test_content_length_request_body(self):
        data = b'{"hello": "world"}'
        response = self.request('POST', '/echo', body=data,
                                headers={'Content-Type': 'application/json'})
        self.assertUploaded(response, data)
        self.assertEqual(self.upstream.last().header('Content-Length'), str(len(data)))
        self.assertEqual(self.upstream.last().header('Content-Type'), 'application/json')

    def test_multi_megabyte_upload_with_content_length_is_streamed(self):
        data = pattern_bytes(12 * MiB)
        self.assertUploaded(self.request('PUT', '/upload', body=data), data)

    def test_chunked_upload_stays_chunked(self):
        data = pattern_bytes(5 * MiB + 123)
        response = self.request('POST', '/upload', body=pieces(data), chunked=True)
        self.assertUploaded(response, data)
        received = self.upstream.last()
        self.assertEqual(received.header('Transfer-Encoding'), 'chunked')
        self.assertIsNone(received.header('Content-Length'))

    def test_multi_megabyte_download_with_content_length(self):
        n = 24 * MiB
        response = self.get('/bytes/%d' % n)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header('Content-Length'), str(n))
        self.assertEqual(sha256(response.body), pattern_sha256(n))

    def test_chunked_download_stays_chunked(self):
        n = 3 * MiB + 7
        _, response = self.exchange('GET /chunked/%d HTTP/1.1\r\nHost: x\r\n\r\n' % n)
        self.assertEqual(response.header('Transfer-Encoding'), 'chunked')
        self.assertEqual(sha256(response.body), pattern_sha256(n))

    def test_close_delimited_download_is_rechunked_for_http11_clients(self):
        conn, response = self.exchange('GET /eof-body/5000 HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(response.header('Transfer-Encoding'), 'chunked')
        self.assertEqual(response.body, pattern_bytes(5000))
        conn.send('GET /again HTTP/1.1\r\nHost: x\r\n\r\n')  # still usable
        self.assertEqual(conn.read_response().status, 200)

    def test_close_delimited_download_to_http10_client_ends_with_close(self):
        conn, response = self.exchange('GET /eof-body/5000 HTTP/1.0\r\n\r\n')
        self.assertEqual(response.body, pattern_bytes(5000))
        self.assertFalse(response.has_header('Transfer-Encoding'))
        self.assertTrue(conn.is_closed())

    def test_expect_100_continue(self):
        conn = self.raw()
        conn.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
                  'Expect: 100-continue\r\n\r\n')
        status = conn.read_head()[1]
        self.assertEqual(status, 100)
        conn.send('hello')
        response = conn.read_response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()['body_length'], 5)
        # Sluice answered the expectation itself; the upstream never sees it.
        self.assertIsNone(self.upstream.last().header('Expect'))

    def test_no_body_for_204_and_304(self):
        conn = self.raw()
        for status in (204, 304):
            conn.send('GET /status/%d HTTP/1.1\r\nHost: x\r\n\r\n' % status)
            response = conn.read_response()
            self.assertEqual(response.status, status)
            self.assertFalse(response.has_header('Transfer-Encoding'))
        # A body on either would have corrupted this response.
        conn.send('GET /after HTTP/1.1\r\nHost: x\r\n\r\n')
        response = conn.read_response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()['path'], '/after')


class Headers(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice()

    def test_end_to_end_headers_are_preserved(self):
        conn = self.raw()
        conn.send('GET /h HTTP/1.1\r\nHost: api.example\r\nX-Custom: a b  c\r\n'
                  'X-Multi: one\r\nX-Multi: two\r\nAuthorization: Bearer t\r\n'
                  'Cookie: a=1\r\n\r\n')
        self.assertEqual(conn.read_response().status, 200)
        received = self.upstream.last()
        self.assertEqual(received.header('Host'), 'api.example')
        self.assertEqual(received.header('X-Custom'), 'a b  c')
        self.assertEqual(received.header_values('X-Multi'), ['one', 'two'])
        self.assertEqual(received.header('Authorization'), 'Bearer t')
        self.assertEqual(received.header('Cookie'), 'a=1')

    def test_hop_by_hop_request_headers_are_removed(self):
        conn = self.raw()
        conn.send('GET /h HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop-One, x-hop-two\r\n'
                  'X-Hop-One: 1\r\nX-Hop-Two: 2\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n'
                  'Trailer: X-Sum\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n'
                  'X-Kept: yes\r\n\r\n')
        self.assertEqual(conn.read_response().status, 200)
        received = self.upstream.last()
        for name in ['Connection', 'X-Hop-One', 'X-Hop-Two', 'Keep-Alive', 'TE', 'Trailer',
                     'Upgrade', 'Proxy-Connection']:
            self.assertIsNone(received.header(name), name)
        self.assertEqual(received.header('X-Kept'), 'yes')

    def test_hop_by_hop_response_headers_are_removed(self):
        target = ('/h?set-header=Connection:X-Up-Hop&set-header=X-Up-Hop:1'
                  '&set-header=Keep-Alive:timeout%3D9&set-header=Upgrade:h2c'
                  '&set-header=Proxy-Connection:close&set-header=X-Up-Kept:yes')
        response = self.get(target)
        self.assertEqual(response.status, 200)
        for name in ['X-Up-Hop', 'Keep-Alive', 'Upgrade', 'Proxy-Connection']:
            self.assertFalse(response.has_header(name), name)
        self.assertEqual(response.header('X-Up-Kept'), 'yes')
        self.assertEqual(response.header('Via'), '1.1 sluice')

    def test_forwarding_headers_from_an_untrusted_client(self):
        response = self.get('/h', headers={'Host': 'api.example:8443',
                                           'X-Forwarded-For': '198.51.100.1',
                                           'X-Forwarded-Proto': 'https',
                                           'X-Forwarded-Host': 'spoofed.example',
                                           'Via': '1.0 edge'})
        self.assertEqual(response.status, 200)
        received = self.upstream.last()
        self.assertEqual(received.header('X-Forwarded-For'), '198.51.100.1, 127.0.0.1')
        # An untrusted peer cannot claim https or another host.
        self.assertEqual(received.header('X-Forwarded-Proto'), 'http')
        self.assertEqual(received.header('X-Forwarded-Host'), 'api.example:8443')
        self.assertEqual(received.header('Via'), '1.0 edge, 1.1 sluice')
        self.assertEqual(received.header('Host'), 'api.example:8443')

    def test_x_forwarded_for_lines_are_joined_then_appended(self):
        self.exchange('GET /h HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n'
                      'X-Forwarded-For: 3.3.3.3\r\n\r\n')
        received = self.upstream.last()
        self.assertEqual(received.header_values('X-Forwarded-For'),
                         ['1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1'])

    def test_x_forwarded_for_lines_apart_are_joined_without_other_headers(self):
        self.exchange('GET /h HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nHost: x\r\n'
                      'X-Other: 6.6.6.6\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n')
        received = self.upstream.last()
        self.assertEqual(received.header_values('X-Forwarded-For'),
                         ['1.1.1.1, 2.2.2.2, 127.0.0.1'])
        self.assertEqual(received.header('X-Other'), '6.6.6.6')

    def test_forwarding_headers_without_any(self):
        self.exchange('GET /h HTTP/1.1\r\nHost: plain.example\r\n\r\n')
        received = self.upstream.last()
        self.assertEqual(received.header('X-Forwarded-For'), '127.0.0.1')
        self.assertEqual(received.header('X-Forwarded-Proto'), 'http')
        self.assertEqual(received.header('X-Forwarded-Host'), 'plain.example')
        self.assertEqual(received.header('Via'), '1.1 sluice')


class TrustedProxyForwardingHeaders(GatewayTestCase):
    def test_a_trusted_proxy_keeps_its_proto_and_host(self):
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}})
        self.get('/h', headers={'Host': 'inner', 'X-Forwarded-Proto': 'https',
                                'X-Forwarded-Host': 'public.example',
                                'X-Forwarded-For': '203.0.113.9'})
        received = self.upstream.last()
        self.assertEqual(received.header('X-Forwarded-Proto'), 'https')
        self.assertEqual(received.header('X-Forwarded-Host'), 'public.example')
        self.assertEqual(received.header('X-Forwarded-For'), '203.0.113.9, 127.0.0.1')


class Connections(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice()

    def test_keep_alive_reuses_client_and_upstream_connections(self):
        client = self.client()
        local_ports = set()
        for i in range(5):
            self.assertEqual(client.get('/k/%d' % i).status, 200)
            local_ports.add(client.local_port)
        self.assertEqual(len(local_ports), 1)
        self.assertEqual(len({r.peer_port for r in self.upstream.requests}), 1)

    def test_upstream_connection_close_keeps_the_client_connection(self):
        client = self.client()
        response = client.get('/connection-close')
        self.assertEqual(response.status, 200)
        self.assertFalse(response.has_header('Connection'))
        port = client.local_port
        self.assertEqual(client.get('/next').status, 200)
        self.assertEqual(client.local_port, port)
        first, second = self.upstream.requests
        self.assertNotEqual(first.peer_port, second.peer_port)

    def test_a_pooled_connection_the_upstream_closed_is_not_used(self):
        self.assertEqual(self.get('/linger-close').status, 200)
        time.sleep(0.2)  # the upstream has closed its idle side meanwhile
        self.assertEqual(self.get('/after-close').status, 200)
        self.assertEqual(self.request('POST', '/after-close', body=b'abc').status, 200)

    def test_interim_responses_from_the_upstream_are_not_relayed(self):
        conn = self.raw()
        conn.send('GET /early-hints HTTP/1.1\r\nHost: x\r\n\r\n')
        status = conn.read_head()[1]
        self.assertEqual(status, 200)

    def test_pipelined_requests_are_answered_in_order(self):
        conn = self.raw()
        conn.send(''.join('GET /p/%d HTTP/1.1\r\nHost: x\r\n\r\n' % i for i in range(4)) +
                  'POST /p/4 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
                  'GET /p/5 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        for i in range(6):
            response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()['path'], '/p/%d' % i)
        self.assertEqual(self.upstream.requests[4].body_length, 3)
        self.assertTrue(conn.is_closed())

    def test_connection_close_from_the_client_is_honoured(self):
        conn, response = self.exchange('GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header('Connection'), 'close')
        self.assertTrue(conn.is_closed())

    def test_http10_client_with_keep_alive(self):
        conn = self.raw()
        for path in ('/ten-a', '/ten-b'):
            conn.send('GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' % path)
            response = conn.read_response()
            self.assertEqual(response.version, 'HTTP/1.0')
            self.assertEqual(response.header('Connection'), 'keep-alive')
            self.assertEqual(response.json()['path'], path)

    def test_http10_client_without_keep_alive(self):
        conn, response = self.exchange('GET /ten HTTP/1.0\r\n\r\n')
        self.assertEqual(response.status, 200)
        self.assertEqual(response.version, 'HTTP/1.0')
        self.assertTrue(conn.is_closed())
        # The upstream gets HTTP/1.1 with a Host (an HTTP/1.0 request may lack one).
        self.assertEqual(self.upstream.last().path, '/ten')
        self.assertEqual(self.upstream.last().header('Host'), '127.0.0.1:%d' % self.upstream.port)


if __name__ == '__main__':
    unittest.main()
