"""Bad input and faults (SPEC 4, 5, 11): 400/413/431 for bad requests (closing the
connection where framing is in doubt), 502/503/504 for upstream failures, the
circuit breaker, misbehaving upstreams; every error body in the SPEC 5 JSON shape."""

import time
import unittest

from harness import GatewayTestCase, free_port, wait_for

HEAD = 'POST /up HTTP/1.1\r\nHost: x\r\n'


class BadRequests(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'server': {'max_body_bytes': '1KiB', 'max_header_bytes': '2KiB'}})

    def assertRejectedAndClosed(self, raw_request, status, code):
        conn, response = self.exchange(raw_request)
        self.assertErrorBody(response, status, code)
        self.assertTrue(conn.is_closed(), 'the connection stays open after %d' % status)
        return response

    def test_malformed_heads_get_400_and_close(self):
        for raw_request in ['GARBAGE\r\n\r\n',
                            'GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n',
                            'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
                            'GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n']:
            with self.subTest(request=raw_request):
                self.assertRejectedAndClosed(raw_request, 400, 'bad_request')
        self.assertEqual(self.upstream.count, 0)

    def test_content_length_with_transfer_encoding_is_rejected(self):
        self.assertRejectedAndClosed(
            HEAD + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
            400, 'bad_request')
        self.assertEqual(self.upstream.count, 0)

    def test_conflicting_content_lengths_are_rejected(self):
        for lengths in ['Content-Length: 5\r\nContent-Length: 6\r\n', 'Content-Length: 5, 6\r\n']:
            with self.subTest(lengths=lengths):
                self.assertRejectedAndClosed(HEAD + lengths + '\r\nhello!', 400, 'bad_request')
        self.assertEqual(self.upstream.count, 0)

    def test_transfer_encoding_not_ending_in_chunked_is_rejected(self):
        self.assertRejectedAndClosed(HEAD + 'Transfer-Encoding: gzip\r\n\r\nxx', 400,
                                     'bad_request')

    def test_bad_chunk_size_gets_400_and_close(self):
        self.assertRejectedAndClosed(
            HEAD + 'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', 400,
            'bad_request')

    def test_malformed_path_gets_400(self):
        response = self.get('/bad%zzpath')
        self.assertErrorBody(response, 400, 'bad_request', 'path')

    def test_content_length_over_the_limit_gets_413_without_reading_it(self):
        response = self.assertRejectedAndClosed(HEAD + 'Content-Length: 1025\r\n\r\n', 413,
                                                'payload_too_large')
        self.assertIn('max_body_bytes', response.json()['error']['message'])
        self.assertEqual(self.upstream.count, 0)

    def test_body_at_the_limit_passes(self):
        response = self.request('POST', '/up', body=b'x' * 1024)
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()['body_length'], 1024)

    def test_chunked_body_over_the_limit_gets_413(self):
        chunk = '200\r\n' + 'x' * 0x200 + '\r\n'
        self.assertRejectedAndClosed(HEAD + 'Transfer-Encoding: chunked\r\n\r\n' + chunk * 3 +
                                     '0\r\n\r\n', 413, 'payload_too_large')
        self.assertEqual(self.upstream.count, 0)  # it never got a complete request

    def test_head_over_max_header_bytes_gets_431(self):
        self.assertRejectedAndClosed('GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' %
                                     ('a' * 4096), 431, 'headers_too_large')
        self.assertEqual(self.upstream.count, 0)

    def test_http_error_metrics(self):
        for raw_request in ['GARBAGE\r\n\r\n', HEAD + 'Content-Length: 5000\r\n\r\n',
                            'GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n' % ('a' * 4096)]:
            self.exchange(raw_request)
        m = self.metrics()
        for code in ('400', '413', '431'):
            self.assertEqual(m.value('gateway_http_errors_total', code=code), 1, code)

    def test_the_gateway_keeps_serving_after_bad_input(self):
        self.test_malformed_heads_get_400_and_close()
        self.assertEqual(self.get('/fine').status, 200)


class UpstreamFailures(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'upstream': {'timeout': '400ms'}})

    def test_garbage_response_gets_502(self):
        self.assertErrorBody(self.get('/garbage'), 502, 'bad_gateway', 'invalid response')
        self.assertEqual(self.metrics().value('gateway_upstream_errors_total', kind='invalid'), 1)

    def test_close_without_answer_gets_502(self):
        self.assertErrorBody(self.get('/close'), 502, 'bad_gateway', 'closed')
        self.assertEqual(self.metrics().value('gateway_upstream_errors_total', kind='reset'), 1)

    def test_slow_upstream_gets_504_after_upstream_timeout(self):
        started = time.monotonic()
        response = self.get('/delay/2000')
        elapsed = time.monotonic() - started
        self.assertErrorBody(response, 504, 'gateway_timeout', 'upstream.timeout')
        self.assertGreaterEqual(elapsed, 0.35)
        self.assertLess(elapsed, 1.5)
        m = self.metrics()
        self.assertEqual(m.value('gateway_upstream_errors_total', kind='timeout'), 1)
        self.assertEqual(m.value('gateway_http_errors_total', code='504'), 1)

    def test_failure_after_the_response_head_closes_the_connection(self):
        conn = self.raw()
        conn.send('GET /truncated/100000 HTTP/1.1\r\nHost: x\r\n\r\n')
        status = conn.read_head()[1]
        self.assertEqual(status, 200)
        received = conn.read_until_close()
        self.assertLess(len(received), 100000)
        self.assertEqual(self.get('/still-serving').status, 200)

    def test_endless_body_costs_only_that_request(self):
        conn = self.raw()
        conn.send('GET /endless HTTP/1.1\r\nHost: x\r\n\r\n')
        conn.read_head()
        received = 0
        while received < 4 * 1024 * 1024:
            received += len(conn.sock.recv(65536))
        conn.close()
        for _ in range(3):
            self.assertEqual(self.get('/others').status, 200)


class ClientAborts(GatewayTestCase):
    """A client that leaves mid-body costs only its own exchange: the half-used
    upstream connection is not pooled, and everyone else is served."""

    def setUp(self):
        super().setUp()
        self.start_sluice()

    def assertServedAndCounted(self):
        for i in range(3):
            response = self.request('POST', '/after/%d' % i, body=b'abc')
            self.assertEqual(response.json()['body_length'], 3)
        wait_for(lambda: self.metrics().value('gateway_active_connections') == 0,
                 message='every connection to be closed')

    def test_client_leaves_mid_upload(self):
        conn = self.raw()
        conn.send(HEAD + 'Content-Length: 100000\r\n\r\n' + 'x' * 1000)
        time.sleep(0.1)
        conn.close()
        self.assertServedAndCounted()

    def test_client_leaves_mid_download(self):
        conn = self.raw()
        conn.send('GET /bytes/%d HTTP/1.1\r\nHost: x\r\n\r\n' % (32 * 1024 * 1024))
        conn.read_head()
        conn.sock.recv(65536)
        conn.close()
        self.assertServedAndCounted()


class ConnectFailure(GatewayTestCase):
    def test_connection_refused_gets_502(self):
        self.start_sluice(upstream_url='http://127.0.0.1:%d' % free_port())
        response = self.get('/nothing-listens')
        self.assertErrorBody(response, 502, 'bad_gateway', 'connection failed')
        m = self.metrics()
        self.assertEqual(m.value('gateway_upstream_errors_total', kind='connect'), 1)
        self.assertEqual(m.value('gateway_http_errors_total', code='502'), 1)

    def test_head_request_errors_have_no_body(self):
        self.start_sluice(upstream_url='http://127.0.0.1:%d' % free_port())
        conn = self.raw()
        conn.send('HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response(head_request=True).status, 502)
        self.assertErrorBody(conn.read_response(), 502, 'bad_gateway')

    def test_client_awaiting_100_continue_gets_the_error_at_once(self):
        self.start_sluice(upstream_url='http://127.0.0.1:%d' % free_port())
        conn = self.raw(timeout=2)
        conn.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
                  'Expect: 100-continue\r\n\r\n')
        self.assertErrorBody(conn.read_response(), 502, 'bad_gateway')  # body never sent
        self.assertTrue(conn.is_closed())


class CircuitBreaker(GatewayTestCase):
    def test_opens_after_consecutive_failures_and_closes_after_cooldown(self):
        self.start_sluice({'upstream': {'circuit_breaker': {'failures': 3, 'cooldown': '1s'}}})
        for _ in range(3):
            self.assertEqual(self.get('/status/500').status, 500)
        opened_at = time.monotonic()
        response = self.get('/status/200')
        self.assertErrorBody(response, 503, 'upstream_unavailable', 'circuit breaker')
        self.assertEqual(response.header('Retry-After'), '1')
        self.assertEqual(self.upstream.count, 3)  # the open breaker spared the upstream

        time.sleep(max(0.0, 1.1 - (time.monotonic() - opened_at)))
        self.assertEqual(self.get('/status/200').status, 200)  # the half-open probe
        self.assertEqual(self.get('/status/200').status, 200)
        m = self.metrics()
        self.assertEqual(m.value('gateway_upstream_errors_total', kind='circuit_open'), 1)
        self.assertEqual(m.value('gateway_http_errors_total', code='503'), 1)
        self.assertEqual(m.value('gateway_upstream_requests_total', route='default',
                                 code_class='5xx'), 3)

    def test_a_failed_probe_opens_it_again(self):
        self.start_sluice({'upstream': {'circuit_breaker': {'failures': 1, 'cooldown': '500ms'}}})
        self.assertEqual(self.get('/status/500').status, 500)
        self.assertEqual(self.get('/status/200').status, 503)
        time.sleep(0.6)
        self.assertEqual(self.get('/status/503').status, 503)  # the probe, from upstream
        self.assertEqual(self.upstream.count, 2)
        response = self.get('/status/200')
        self.assertErrorBody(response, 503, 'upstream_unavailable')
        self.assertEqual(self.upstream.count, 2)

    def test_a_success_resets_the_failure_count(self):
        self.start_sluice({'upstream': {'circuit_breaker': {'failures': 2, 'cooldown': '10s'}}})
        for path in ['/status/502', '/status/200', '/status/502', '/status/200']:
            self.assertEqual(self.get(path).status, int(path.rsplit('/', 1)[1]))

    def test_connect_failures_open_it_too(self):
        self.start_sluice({'upstream': {'circuit_breaker': {'failures': 2, 'cooldown': '10s'}}},
                          upstream_url='http://127.0.0.1:%d' % free_port())
        self.assertEqual([self.get('/x').status for _ in range(3)], [502, 502, 503])


if __name__ == '__main__':
    unittest.main()
