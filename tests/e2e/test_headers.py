"""Rate-limit headers (SPEC 5), byte for byte, in every mode: legacy (epoch and delta
reset), draft-6, draft-7, draft-10, off; Retry-After and the 429 body."""

import math
import re
import time
import unittest

from harness import GatewayTestCase, free_port

# per-ip is the limit closest to exhaustion after one request (9/10 left against
# 999/1000), so it is the reported one; the shadow limit never shows in headers.
TWO_LIMITS = {
    'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '10/min', 'burst': 10},
        {'name': 'hourly', 'key': 'global', 'algorithm': 'fixed_window', 'rate': '1000/1h'},
        {'name': 'watch', 'key': 'ip', 'rate': '1/1d', 'burst': 1, 'shadow': True},
    ],
}

# Two requests per hour: the third is denied for a whole token (3600 s).
TWO_PER_HOUR = {'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 2}]}

RATE_HEADER = re.compile(r'^(x-ratelimit-.*|ratelimit(-.*)?|retry-after)$', re.IGNORECASE)


def rate_headers(response):
    """The rate-limit header lines of a response, in wire order."""
    return [(name, value) for name, value in response.headers if RATE_HEADER.match(name)]


class HeaderModes(GatewayTestCase):
    def start(self, headers, policy=TWO_LIMITS):
        self.start_sluice({'headers': headers}, policy)

    def first_request(self):
        """Sends the first request; returns (rate headers, time before, time after)."""
        before = time.time()
        response = self.get('/r')
        after = time.time()
        self.assertEqual(response.status, 200)
        return rate_headers(response), before, after

    def assertEpochNear(self, text, before, after, delta):
        """An epoch-seconds header: ceil(now + delta) for some `now` in [before, after]."""
        value = int(text)
        self.assertGreaterEqual(value, math.ceil(before + delta) - 1)
        self.assertLessEqual(value, math.ceil(after + delta))

    def window_left(self, before, after, window):
        """The allowed `seconds until the fixed window ends` values, rounded up."""
        return {math.ceil(window - t % window) for t in (before, after)}

    def test_legacy_epoch_reset_with_draft6(self):
        self.start({'legacy': True, 'legacy_reset': 'epoch', 'standard': 'draft-6'})
        headers, before, after = self.first_request()
        self.assertEqual(headers[2][0], 'X-RateLimit-Reset')
        self.assertEpochNear(headers[2][1], before, after, 6)
        headers[2] = ('X-RateLimit-Reset', '<epoch>')
        self.assertEqual(headers, [
            ('X-RateLimit-Limit', '10'),
            ('X-RateLimit-Remaining', '9'),
            ('X-RateLimit-Reset', '<epoch>'),
            ('X-RateLimit-Used', '1'),
            ('X-RateLimit-Scope', 'per-ip'),
            ('RateLimit-Limit', '10'),
            ('RateLimit-Remaining', '9'),
            ('RateLimit-Reset', '6'),
            ('RateLimit-Policy', '10;w=60, 1000;w=3600'),
        ])

    def test_legacy_delta_reset_only(self):
        self.start({'legacy': True, 'legacy_reset': 'delta', 'standard': 'off'})
        headers, _, _ = self.first_request()
        self.assertEqual(headers, [
            ('X-RateLimit-Limit', '10'),
            ('X-RateLimit-Remaining', '9'),
            ('X-RateLimit-Reset', '6'),
            ('X-RateLimit-Used', '1'),
            ('X-RateLimit-Scope', 'per-ip'),
        ])

    def test_draft6_counts_down(self):
        self.start({'legacy': False, 'standard': 'draft-6'})
        for remaining, reset in [(9, 6), (8, 12), (7, 18)]:
            headers = dict(rate_headers(self.get('/r')))
            self.assertEqual(headers['RateLimit-Remaining'], str(remaining))
            self.assertEqual(headers['RateLimit-Reset'], str(reset))

    def test_draft7(self):
        self.start({'legacy': False, 'standard': 'draft-7'})
        headers, _, _ = self.first_request()
        self.assertEqual(headers, [
            ('RateLimit', 'limit=10, remaining=9, reset=6'),
            ('RateLimit-Policy', '10;w=60, 1000;w=3600'),
        ])

    def test_draft10_lists_every_enforced_limit(self):
        self.start({'legacy': False, 'standard': 'draft-10'})
        headers, before, after = self.first_request()
        self.assertEqual(headers[0], ('RateLimit-Policy',
                                      '"per-ip";q=10;w=60, "hourly";q=1000;w=3600'))
        self.assertEqual(headers[1][0], 'RateLimit')
        match = re.fullmatch(r'"per-ip";r=9;t=6, "hourly";r=999;t=(\d+)', headers[1][1])
        self.assertIsNotNone(match, headers[1][1])
        self.assertIn(int(match.group(1)), self.window_left(before, after, 3600))
        self.assertEqual(len(headers), 2)

    def test_off_sends_no_rate_limit_headers(self):
        self.start({'legacy': False, 'standard': 'off'})
        headers, _, _ = self.first_request()
        self.assertEqual(headers, [])

    def test_no_headers_on_a_route_without_limits(self):
        policy = dict(TWO_LIMITS, routes=[{'name': 'open', 'match': '/open/**', 'limits': 'off'}])
        self.start({'legacy': True, 'standard': 'draft-7'}, policy)
        self.assertEqual(rate_headers(self.get('/open/x')), [])


class TooManyRequests(GatewayTestCase):
    def exhaust(self, headers):
        """Starts a gateway with TWO_PER_HOUR, spends both requests, returns the 429
        and the time elapsed since the first request."""
        self.start_sluice({'headers': headers}, TWO_PER_HOUR)
        started = time.time()
        for _ in range(2):
            self.assertEqual(self.get('/r').status, 200)
        response = self.get('/r')
        self.assertEqual(response.status, 429)
        return response, started, time.time()

    def assertSecondsLeft(self, text, full, started, now):
        """ceil(full - elapsed) for an elapsed time between 0 and now - started."""
        self.assertGreaterEqual(int(text), math.ceil(full - (now - started)))
        self.assertLessEqual(int(text), full)

    def test_429_headers_and_body_byte_for_byte(self):
        response, started, now = self.exhaust(
            {'legacy': True, 'legacy_reset': 'epoch', 'standard': 'draft-6', 'retry_after': True})
        headers = rate_headers(response)
        retry = headers[-1][1]
        epoch = headers[2][1]
        self.assertSecondsLeft(retry, 3600, started, now)
        # The second the bucket is full again: 7200 s after the first admission, which
        # came between `started` and `now` (comparing with ceil(now) instead would be off
        # by one whenever a second ticks between the decision and the reading of `now`).
        self.assertGreaterEqual(int(epoch), math.ceil(started + 7200))
        self.assertLessEqual(int(epoch), math.ceil(now + 7200))
        self.assertEqual(headers, [
            ('X-RateLimit-Limit', '2'),
            ('X-RateLimit-Remaining', '0'),
            ('X-RateLimit-Reset', epoch),
            ('X-RateLimit-Used', '2'),
            ('X-RateLimit-Scope', 'per-ip'),
            ('RateLimit-Limit', '2'),
            ('RateLimit-Remaining', '0'),
            ('RateLimit-Reset', dict(headers)['RateLimit-Reset']),
            ('RateLimit-Policy', '2;w=7200'),
            ('Retry-After', retry),
        ])
        self.assertSecondsLeft(dict(headers)['RateLimit-Reset'], 7200, started, now)
        self.assertEqual(response.header('Content-Type'), 'application/json')
        self.assertEqual(response.text, (
            '{"error":{"code":"rate_limit_exceeded",'
            '"message":"Rate limit exceeded for \'per-ip\'. Retry after %s seconds.",'
            '"limit":"per-ip","retry_after":%s,"reset":%s}}') % (retry, retry, epoch))
        self.assertEqual(self.upstream.count, 2)

    def test_retry_after_of_one_second_is_singular(self):
        self.start_sluice({}, {'limits': [{'name': 'fast', 'key': 'ip', 'rate': '1/s',
                                           'burst': 1}]})
        self.get('/r')
        response = self.get('/r')
        self.assertEqual(response.status, 429)
        self.assertEqual(response.header('Retry-After'), '1')
        self.assertEqual(response.json()['error']['message'],
                         "Rate limit exceeded for 'fast'. Retry after 1 second.")

    def test_retry_after_alone_when_other_headers_are_off(self):
        response, _, _ = self.exhaust({'legacy': False, 'standard': 'off', 'retry_after': True})
        self.assertEqual([name for name, _ in rate_headers(response)], ['Retry-After'])

    def test_no_retry_after_when_disabled(self):
        response, _, _ = self.exhaust({'legacy': True, 'standard': 'draft-7',
                                       'retry_after': False})
        names = [name for name, _ in rate_headers(response)]
        self.assertNotIn('Retry-After', names)
        self.assertIn('RateLimit', names)
        self.assertEqual(response.json()['error']['code'], 'rate_limit_exceeded')

    def test_draft7_and_draft10_on_429(self):
        for standard, expected in [('draft-7', r'limit=2, remaining=0, reset=\d+'),
                                   ('draft-10', r'"per-ip";r=0;t=\d+')]:
            with self.subTest(standard=standard):
                response, _, _ = self.exhaust({'legacy': False, 'standard': standard})
                self.assertRegex(response.header('RateLimit'), '^%s$' % expected)
                self.sluice.stop()
                self.sluice = None


class HeadersOnOtherResponses(GatewayTestCase):
    """'Headers on every limited-route response (2xx from upstream, 429, and others).'"""

    def test_upstream_error_status_carries_the_headers(self):
        self.start_sluice({'headers': {'legacy': True, 'standard': 'off'}}, TWO_LIMITS)
        response = self.get('/status/500')
        self.assertEqual(response.status, 500)
        self.assertEqual(response.header('X-RateLimit-Remaining'), '9')

    def test_gateway_error_after_an_allowed_decision_carries_the_headers(self):
        self.start_sluice({'headers': {'legacy': True, 'standard': 'off'}}, TWO_LIMITS,
                          upstream_url='http://127.0.0.1:%d' % free_port())
        response = self.get('/r')
        self.assertErrorBody(response, 502, 'bad_gateway')
        self.assertEqual(response.header('X-RateLimit-Remaining'), '9')
        # ...but a later request's own error does not repeat them.
        conn = self.raw()
        conn.send('GET /r HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response().header('X-RateLimit-Remaining'), '8')
        conn.send('GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n')
        bad = conn.read_response()
        self.assertEqual(bad.status, 400)
        self.assertEqual(rate_headers(bad), [])


if __name__ == '__main__':
    unittest.main()
