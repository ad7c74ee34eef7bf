"""A cost from the response (issue 14, a limit's `cost:`): a request is charged its
reserve when decided, and settled to what the upstream's answer says it cost when the
response ends: from a header, a JSON body's field, a text/event-stream's last usage
event, or a trailer; a failed exchange settles at on_failure. Costing more than the
reserve leaves debt the next requests wait for; costing less gives the rest back.
Through the real binary on the memory backend and on Redis (two gateways), with an
upstream that reports usage; 64 requests at once are admitted by their reserves."""

import threading
import unittest

from harness import GatewayTestCase, request, wait_for
from redis_support import RedisCase

# Hour-long rates: refill during a test is far below one unit.
POLICY = {
    'routes': [
        {'name': 'header', 'match': '/h/**'},
        {'name': 'json', 'match': '/usage/**'},
        {'name': 'stream', 'match': '/usage-stream/**'},
        {'name': 'trailer', 'match': '/usage-trailer/**'},
        {'name': 'held', 'match': '/hold'},
        {'name': 'failing', 'match': '/close'},
    ],
    'limits': [
        {'name': 'tokens', 'key': 'ip', 'rate': '100/1h', 'routes': ['header', 'failing'],
         'cost': {'response_header': 'X-Usage-Tokens', 'reserve': 10, 'on_failure': 0}},
        {'name': 'json-tokens', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '1000/1h',
         'routes': ['json', 'stream'], 'cost': {'response_json': 'usage.total_tokens',
                                                 'reserve': 100}},
        {'name': 'trailer-tokens', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '1000/1h',
         'routes': ['trailer'], 'cost': {'response_trailer': 'X-Usage-Tokens'}},
        {'name': 'held-tokens', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '100/1h',
         'routes': ['held'], 'cost': {'response_header': 'X-Usage-Tokens', 'reserve': 10}},
    ],
}


def remaining(gateway, limit):
    r = request(gateway.admin_port, 'GET', '/admin/limits/%s/127.0.0.1' % limit)
    return r.json()['remaining']


class ResponseCostChecks:
    def settles_from_a_header_into_debt(self, gateways):
        a, b = gateways[0], gateways[-1]
        first = request(a.port, 'GET', '/h/x?set-header=X-Usage-Tokens:60')
        self.assertEqual(first.status, 200)
        self.assertEqual(first.header('X-Usage-Tokens'), '60', 'passed on to the client')
        self.assertEqual(first.header('X-RateLimit-Remaining'), '90', 'the reserve, up front')
        wait_for(lambda: remaining(b, 'tokens') == 40, message='settled to 60')
        # 40 left: the reserve fits; the response says 60: 20 owed.
        self.assertEqual(request(b.port, 'GET', '/h/x?set-header=X-Usage-Tokens:60').status,
                         200)
        # The settle reaches Redis a moment after the client has its answer: a request
        # sent before it lands would be admitted (and cost its reserve), so wait for it
        # with the admin API's peek, which charges nothing (30 left after the reserve).
        wait_for(lambda: remaining(a, 'tokens') < 30, message='the 60 settled')
        self.assertEqual(request(a.port, 'GET', '/h/x').status, 429,
                         'the debt keeps the next request out')
        denied = request(b.port, 'GET', '/h/x')
        self.assertEqual(denied.status, 429)
        # 20 owed plus the reserve of 10: 30 tokens at 36 s each.
        self.assertAlmostEqual(int(denied.header('Retry-After')), 30 * 36, delta=2)

    def settles_from_json_streams_and_trailers(self, gateways):
        a, b = gateways[0], gateways[-1]
        self.assertEqual(request(a.port, 'GET', '/usage/250').status, 200)
        wait_for(lambda: remaining(b, 'json-tokens') == 750, message='JSON body: 250')
        stream = request(b.port, 'GET', '/usage-stream/42')
        self.assertEqual(stream.status, 200)
        self.assertIn(b'data: [DONE]', stream.body)
        wait_for(lambda: remaining(a, 'json-tokens') == 708, message='event stream: 42')
        trailer = request(a.port, 'GET', '/usage-trailer/7')
        self.assertEqual(trailer.status, 200)
        wait_for(lambda: remaining(b, 'trailer-tokens') == 993, message='trailer: 7')

    def failures_settle_at_on_failure(self, gateways):
        a = gateways[0]
        self.assertEqual(request(a.port, 'GET', '/close').status, 502)
        # on_failure: 0 gives the whole reserve back.
        wait_for(lambda: remaining(a, 'tokens') == 100, message='refunded')

    def reserves_admit_64_at_once(self, gateways):
        """64 at once against 100 per hour with a reserve of 10: exactly 10 admitted while
        they are in flight; each then costs 30, so the window ends 200 in debt: what
        parallel requests spend beyond the limit is their overshoot over the reserve."""
        self.upstream.close_gate()
        statuses = []
        lock = threading.Lock()

        def one(i):
            status = request(gateways[i % len(gateways)].port, 'GET',
                             '/hold?set-header=X-Usage-Tokens:30', timeout=30).status
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        wait_for(lambda: len(statuses) == 54 and self.upstream.held == 10, timeout=20,
                 message='54 denied, 10 held')
        self.assertEqual(set(statuses), {429})
        self.upstream.open_gate()
        for t in threads:
            t.join(30)
        self.assertEqual(statuses.count(200), 10)
        wait_for(lambda: remaining(gateways[0], 'held-tokens') == 0, message='settled')
        self.assertEqual(request(gateways[-1].port, 'GET', '/hold').status, 429)

    def counted(self, gateways):
        outcomes = {}
        for g in gateways:
            for outcome in ('read', 'missing', 'failed'):
                outcomes[outcome] = outcomes.get(outcome, 0) + (g.metrics().value(
                    'gateway_response_costs_total', outcome=outcome) or 0)
        return outcomes


class ResponseCostMemory(GatewayTestCase, ResponseCostChecks):
    def start(self):
        gateway = self.start_sluice({}, POLICY)
        self.addCleanup(self.upstream.open_gate)
        return [gateway]

    def test_a_header_settles_the_reserve_into_debt(self):
        gateways = self.start()
        self.settles_from_a_header_into_debt(gateways)
        self.assertEqual(self.counted(gateways), {'read': 2, 'missing': 0, 'failed': 0})

    def test_json_bodies_event_streams_and_trailers(self):
        self.settles_from_json_streams_and_trailers(self.start())

    def test_a_failed_exchange_settles_at_on_failure(self):
        gateways = self.start()
        self.failures_settle_at_on_failure(gateways)
        # A response without the header keeps the reserve.
        self.assertEqual(request(gateways[0].port, 'GET', '/h/x').status, 200)
        wait_for(lambda: remaining(gateways[0], 'tokens') == 90, message='the reserve stands')
        self.assertEqual(self.counted(gateways), {'read': 0, 'missing': 1, 'failed': 1})

    def test_64_at_once_are_admitted_by_their_reserves(self):
        self.reserves_admit_64_at_once(self.start())


class ResponseCostRedis(RedisCase, ResponseCostChecks):
    def start(self):
        redis = self.start_redis()
        patient = {'storage': {'redis': {'timeout': '2s'}}}
        gateways = [self.start_gateway(redis, POLICY, overrides=patient) for _ in range(2)]
        self.addCleanup(self.upstream.open_gate)
        return gateways

    def test_two_gateways_settle_one_shared_budget(self):
        gateways = self.start()
        self.failures_settle_at_on_failure(gateways)
        self.settles_from_a_header_into_debt(gateways)
        self.settles_from_json_streams_and_trailers(gateways)

    def test_64_at_once_over_two_gateways(self):
        self.reserves_admit_64_at_once(self.start())


if __name__ == '__main__':
    unittest.main()
