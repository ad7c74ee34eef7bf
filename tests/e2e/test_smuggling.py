"""Request smuggling and connection desynchronisation (SPEC 13, issue 8).

Each test sends raw bytes through Sluice to a raw-socket upstream that records exactly
what it parsed (raw_upstream.py), and asserts that the upstream parsed exactly the
requests Sluice answered, and that the next client on the same pooled upstream
connection (one worker thread, so connections are shared) gets its own answer.
"""

import os
import threading
import time
import unittest

from harness import GatewayTestCase, RawConnection, request
from raw_upstream import RawUpstream


class SmugglingTestCase(GatewayTestCase):
    config = {}

    def setUp(self):
        super().setUp()
        self.up = RawUpstream()
        self.addCleanup(self.up.stop)
        overrides = {'server': {'threads': 1}}
        for section, values in self.config.items():
            overrides.setdefault(section, {}).update(values)
        self.start_sluice(overrides, upstream_url=self.up.url)

    def send(self, raw):
        """Sends raw bytes on a new connection; returns (connection, first response)."""
        conn = self.raw()
        conn.send(raw)
        return conn, conn.read_response()

    def assert_upstream_parsed(self, targets):
        requests, errors = self.up.snapshot()
        self.assertEqual(errors, [], 'the upstream could not parse what it received')
        self.assertEqual([r.target for r in requests], targets, requests)
        return requests

    def assert_next_client_gets_its_own(self, path):
        response = request(self.sluice.port, 'GET', path)
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.header('X-Answer-To'), path, response)

    def assert_alive(self):
        response = request(self.sluice.admin_port, 'GET', '/healthz')
        self.assertEqual(response.status, 200)
        self.assertTrue(self.sluice.running())


class ConnectionNamedFramingTest(SmugglingTestCase):
    def test_connection_naming_content_length_keeps_the_body_a_body(self):
        smuggled = b'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
        self.assertEqual(len(smuggled), 35)
        conn, response = self.send(b'POST /a HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\n'
                                   b'Content-Length: 35\r\n\r\n' + smuggled)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header('X-Answer-To'), '/a')
        self.assert_next_client_gets_its_own('/next')
        requests = self.assert_upstream_parsed(['/a', '/next'])
        self.assertEqual(requests[0].body, smuggled)
        self.assertEqual(requests[0].header_values('Content-Length'), ['35'])

    def test_a_stored_prefix_never_captures_the_next_clients_request(self):
        # The attack: a body that opens a request of its own, so that the next client's
        # request (API key included) becomes the attacker's stored comment.
        prefix = (b'POST /comments HTTP/1.1\r\nHost: x\r\nContent-Length: 90\r\n\r\n'
                  b'comment=')
        for round_ in range(10):
            self.up.reset()
            conn, response = self.send(
                b'POST /a HTTP/1.1\r\nHost: x\r\nConnection: Content-Length\r\n'
                b'Content-Length: %d\r\n\r\n' % len(prefix) + prefix)
            self.assertEqual(response.header('X-Answer-To'), '/a', 'round %d' % round_)
            victim = request(self.sluice.port, 'GET', '/victim',
                             headers={'X-API-Key': 'secret-%d' % round_})
            self.assertEqual(victim.header('X-Answer-To'), '/victim', 'round %d' % round_)
            requests = self.assert_upstream_parsed(['/a', '/victim'])
            self.assertEqual(requests[0].body, prefix)

    def test_connection_naming_transfer_encoding_or_host(self):
        conn, response = self.send(
            b'POST /a HTTP/1.1\r\nHost: x\r\nConnection: Transfer-Encoding, Host\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
        self.assertEqual(response.status, 200)
        self.assert_next_client_gets_its_own('/next')
        requests = self.assert_upstream_parsed(['/a', '/next'])
        self.assertEqual(requests[0].body, b'hello')
        self.assertEqual(requests[0].header_values('Transfer-Encoding'), ['chunked'])
        self.assertEqual(requests[0].header_values('Host'), ['x'])

    def test_an_upstream_response_naming_content_length_keeps_its_length(self):
        conn = self.raw()
        conn.send(b'GET /connection-cl HTTP/1.1\r\nHost: x\r\n\r\n')
        response = conn.read_response()
        self.assertEqual(response.header('Content-Length'), '5')
        self.assertEqual(response.body, b'hello')
        conn.send(b'GET /second HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response().header('X-Answer-To'), '/second')

    def test_a_folded_field_is_unfolded_before_it_is_read_or_forwarded(self):
        # RFC 9112 5.2: obs-fold is replaced with a space, so Sluice and the upstream
        # read the same Transfer-Encoding.
        conn, response = self.send(b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked'
                                   b'\r\nX-Folded: one\r\n two\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
        self.assertEqual(response.status, 200)
        requests = self.assert_upstream_parsed(['/a'])
        self.assertEqual(requests[0].body, b'hello')
        self.assertEqual(requests[0].header_values('Transfer-Encoding'), ['chunked'])
        self.assertEqual(requests[0].header_values('X-Folded'), ['one two'])

    def test_equal_content_length_values_reach_the_upstream_as_one(self):
        conn, response = self.send(b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n'
                                   b'hello')
        self.assertEqual(response.status, 200)
        requests = self.assert_upstream_parsed(['/a'])
        self.assertEqual(requests[0].header_values('Content-Length'), ['5'])
        self.assertEqual(requests[0].body, b'hello')


class AmbiguousFramingTest(SmugglingTestCase):
    CASES = {
        'CL then TE': b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n'
                      b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'TE then CL': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                      b'Content-Length: 4\r\n\r\n0\r\n\r\n',
        'two lengths': b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n'
                       b'Content-Length: 5\r\n\r\nabcde',
        'length list': b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcde',
        'signed length': b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd',
        'hex length': b'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\nabcd',
        'xchunked': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n'
                    b'0\r\n\r\n',
        'chunked, identity': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, '
                             b'identity\r\n\r\n0\r\n\r\n',
        'gzip, chunked': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'
                         b'0\r\n\r\n',
        'two TE lines': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n'
                        b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'space before colon': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n'
                              b'\r\n0\r\n\r\n',
        'underscore length': b'POST /a HTTP/1.1\r\nHost: x\r\nContent_Length: 5\r\n\r\nhello',
        'underscore TE': b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer_Encoding: chunked\r\n\r\n'
                         b'0\r\n\r\n',
        'TE in HTTP/1.0': b'POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        'bare LF': b'POST /a HTTP/1.1\nHost: x\nContent-Length: 1\n\nx',
        'two hosts': b'GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
        'no host': b'GET /a HTTP/1.1\r\n\r\n',
        'bad host': b'GET /a HTTP/1.1\r\nHost: x/y\r\n\r\n',
    }

    def test_every_ambiguous_framing_is_400_and_closes_and_reaches_nobody(self):
        for name, raw in self.CASES.items():
            with self.subTest(name):
                conn, response = self.send(raw)
                self.assertErrorBody(response, 400, 'bad_request')
                self.assertTrue(conn.is_closed(), 'connection kept after ' + name)
        self.assert_upstream_parsed([])
        self.assert_alive()

    def test_a_bad_chunk_after_the_head_went_upstream_is_400_and_the_connection_not_reused(self):
        conn, response = self.send(b'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                                   b'\r\nzz\r\nhello\r\n0\r\n\r\n')
        self.assertErrorBody(response, 400, 'bad_request', 'Malformed request body')
        self.assertTrue(conn.is_closed())
        self.assert_next_client_gets_its_own('/next')
        self.assert_upstream_parsed(['/next'])


class EmptyChunkedBodyTest(SmugglingTestCase):
    def test_an_empty_chunked_request_body_is_terminated_once(self):
        for round_ in range(10):
            self.up.reset()
            conn, response = self.send(b'POST /a HTTP/1.1\r\nHost: x\r\n'
                                       b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
            self.assertEqual(response.header('X-Answer-To'), '/a')
            self.assert_next_client_gets_its_own('/next')
            requests = self.assert_upstream_parsed(['/a', '/next'])
            self.assertEqual(requests[0].body, b'')

    def test_an_empty_chunked_response_is_terminated_once(self):
        conn = self.raw()
        for round_ in range(5):
            conn.send(b'GET /empty-chunked HTTP/1.1\r\nHost: x\r\n\r\n')
            response = conn.read_response()
            self.assertEqual(response.header('X-Answer-To'), '/empty-chunked')
            self.assertEqual(response.body, b'')
            self.assertEqual(conn.buffer, b'', 'bytes after the last chunk')
            conn.send(b'GET /after HTTP/1.1\r\nHost: x\r\n\r\n')
            self.assertEqual(conn.read_response().header('X-Answer-To'), '/after')


class PooledConnectionTest(SmugglingTestCase):
    def test_stray_upstream_bytes_never_reach_the_next_client(self):
        for round_ in range(10):
            response = request(self.sluice.port, 'GET', '/stray')
            self.assertEqual(response.body, b'ok')
            time.sleep(0.2)  # the upstream's unsolicited second response arrives meanwhile
            self.assert_next_client_gets_its_own('/next-%d' % round_)

    def test_pipelined_requests_are_answered_in_order(self):
        conn = self.raw()
        conn.send(b'GET /one HTTP/1.1\r\nHost: x\r\n\r\n'
                  b'POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'
                  b'GET /three HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual([conn.read_response().header('X-Answer-To') for _ in range(3)],
                         ['/one', '/two', '/three'])
        self.assert_upstream_parsed(['/one', '/two', '/three'])


class TrailerTest(SmugglingTestCase):
    def test_small_trailers_are_dropped_and_the_body_relayed(self):
        conn, response = self.send(b'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                                   b'\r\n5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n')
        self.assertEqual(response.status, 200)
        self.assert_next_client_gets_its_own('/next')
        requests = self.assert_upstream_parsed(['/t', '/next'])
        self.assertEqual(requests[0].body, b'hello')

    def test_a_trailer_field_over_64_kib_is_400_not_a_crash(self):
        conn, response = self.send(b'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                                   b'\r\n0\r\nX: ' + b'a' * 65600 + b'\r\n\r\n')
        self.assertErrorBody(response, 400, 'bad_request')
        self.assert_alive()
        self.assert_next_client_gets_its_own('/next')

    def test_millions_of_trailer_fields_are_refused_with_bounded_memory(self):
        rss_before = rss_kib(self.sluice.pid)
        conn = self.raw()
        conn.send(b'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n')
        field = b'a: b\r\n' * 10000

        def flood():
            try:
                for _ in range(400):  # 4 million fields, 24 MB
                    conn.sock.sendall(field)
                conn.sock.sendall(b'\r\n')
            except OSError:
                pass  # the gateway answered and closed

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        response = conn.read_response()
        sender.join(timeout=30)
        self.assertErrorBody(response, 400, 'bad_request')
        # Growth, not the total: an ASan build starts near 100 MB. Unbounded trailers
        # grew it by ~370 MB.
        self.assertLess(rss_kib(self.sluice.pid) - rss_before, 64 * 1024)
        self.assert_alive()

    def test_a_huge_upstream_trailer_closes_that_connection_only(self):
        conn = self.raw()
        conn.send(b'GET /big-trailer HTTP/1.1\r\nHost: x\r\n\r\n')
        version, status, reason, headers = conn.read_head()
        self.assertEqual(status, 200)
        conn.read_until_close()  # the head went out: a failure can only close
        self.assert_alive()
        self.assert_next_client_gets_its_own('/next')


class LargeHeadTest(SmugglingTestCase):
    config = {'server': {'max_header_bytes': '1MiB'}}

    def test_a_field_over_64_kib_is_431_when_max_header_bytes_allows_it(self):
        conn, response = self.send(b'GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ' + b'a' * 70000 +
                                   b'\r\n\r\n')
        self.assertErrorBody(response, 431, 'headers_too_large')
        self.assert_alive()
        self.assert_upstream_parsed([])

    def test_a_forwarded_for_joined_over_64_kib_is_431(self):
        lines = b''.join(b'X-Forwarded-For: ' + b'1' * 30000 + b'\r\n' for _ in range(3))
        conn, response = self.send(b'GET /a HTTP/1.1\r\nHost: x\r\n' + lines + b'\r\n')
        self.assertErrorBody(response, 431, 'headers_too_large')
        self.assert_alive()


class InterimResponseTest(SmugglingTestCase):
    config = {'upstream': {'timeout': '2s'}}

    def test_interim_responses_do_not_extend_the_deadline(self):
        started = time.monotonic()
        response = request(self.sluice.port, 'GET', '/interim')
        elapsed = time.monotonic() - started
        self.assertErrorBody(response, 504, 'gateway_timeout')
        self.assertLess(elapsed, 4.5)

    def test_an_unsolicited_101_is_a_bad_gateway(self):
        response = request(self.sluice.port, 'GET', '/switch')
        self.assertErrorBody(response, 502, 'bad_gateway')
        self.assert_next_client_gets_its_own('/next')


class ForwardedForLinesTest(SmugglingTestCase):
    config = {'identity': {'trusted_proxies': ['127.0.0.1/32']}}

    def test_every_forwarded_for_line_is_walked_however_many(self):
        # 16 spoofed lines from the client, then the line the trusted proxy appended:
        # the client is the last untrusted address, whatever the client wrote before.
        self.sluice.write_config(policy={'limits': [{'name': 'per-ip', 'key': 'ip',
                                                     'rate': '1/min', 'burst': 1}]})
        self.sluice.reload()
        for round_, spoof in enumerate(['10.9.9.%d', '172.16.0.%d']):
            lines = b''.join(b'X-Forwarded-For: ' + (spoof % i).encode() + b'\r\n'
                             for i in range(16))
            conn, response = self.send(b'GET /a HTTP/1.1\r\nHost: x\r\n' + lines +
                                       b'X-Forwarded-For: 198.51.100.7\r\n\r\n')
            self.assertEqual(response.status, 200 if round_ == 0 else 429, response)
        log = self.sluice.access_log(wait_for_lines=2)
        self.assertEqual([entry['client_ip'] for entry in log[-2:]], ['198.51.100.7'] * 2)


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise AssertionError('no VmRSS for %d' % pid)


if __name__ == '__main__':
    unittest.main()
