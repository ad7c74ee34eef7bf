"""Envoy's rate limit service (issue 13): a real gRPC client (Debian's python3-grpcio,
messages generated from the vendored protos with protoc) calls
RateLimitService/ShouldRateLimit on `rls.listen`, with envoyproxy/ratelimit's README
example 2 (messaging) as the configuration. Memory and Redis backends."""

import os
import subprocess
import sys
import tempfile
import threading
import unittest

from harness import GatewayTestCase, OPEN_POLICY, free_port, wait_for
from redis_support import RedisCase, RedisServer

SOURCE_DIR = os.environ.get('SLUICE_SOURCE_DIR',
                            os.path.join(os.path.dirname(__file__), '..', '..'))
PROTO_DIR = os.path.join(SOURCE_DIR, 'proto')
PROTOS = ['envoy/type/v3/ratelimit_unit.proto', 'envoy/config/core/v3/base.proto',
          'envoy/extensions/common/ratelimit/v3/ratelimit.proto',
          'envoy/service/ratelimit/v3/rls.proto']

# The messages, generated once per run into a temporary directory.
_generated = tempfile.mkdtemp(prefix='sluice-rls-pb-')
subprocess.run(['protoc', '-I', PROTO_DIR, '--python_out', _generated] + PROTOS, check=True)
sys.path.insert(0, _generated)

import grpc  # noqa: E402
from envoy.service.ratelimit.v3 import rls_pb2  # noqa: E402

OK = rls_pb2.RateLimitResponse.OK
OVER = rls_pb2.RateLimitResponse.OVER_LIMIT

MESSAGING = """\
domain: messaging
descriptors:
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
"""


def request(domain, *descriptors, hits_addend=0):
    """descriptors: lists of (key, value), or (entries, {'hits_addend': n})."""
    r = rls_pb2.RateLimitRequest(domain=domain, hits_addend=hits_addend)
    for d in descriptors:
        extra = {}
        if isinstance(d, tuple):
            d, extra = d
        out = r.descriptors.add()
        for key, value in d:
            e = out.entries.add()
            e.key, e.value = key, value
        if 'hits_addend' in extra:
            out.hits_addend.value = extra['hits_addend']
    return r


def marketing(number):
    return request('messaging', [('message_type', 'marketing'), ('to_number', number)],
                   [('to_number', number)])


class RlsClient:
    def __init__(self, port):
        self.channel = grpc.insecure_channel('127.0.0.1:%d' % port)
        self.call = self.channel.unary_unary(
            '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit',
            request_serializer=rls_pb2.RateLimitRequest.SerializeToString,
            response_deserializer=rls_pb2.RateLimitResponse.FromString)

    def __call__(self, req):
        return self.call(req, timeout=5)

    def close(self):
        self.channel.close()


def write_rls(workdir, text=MESSAGING):
    directory = os.path.join(workdir, 'rls')
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, 'messaging.yaml'), 'w') as f:
        f.write(text)
    return directory


class RlsChecks:
    def client(self, gateway):
        c = RlsClient(gateway.rls_port)
        self.addCleanup(c.close)
        return c

    def test_all_or_nothing_statuses_headers_and_body(self):
        rls = self.client(self.sluice)
        for n in range(5):
            r = rls(marketing('555'))
            self.assertEqual(r.overall_code, OK)
            self.assertEqual([(s.code, s.limit_remaining) for s in r.statuses],
                             [(OK, 4 - n), (OK, 99 - n)])
            self.assertEqual(r.statuses[0].current_limit.requests_per_unit, 5)
            self.assertEqual(r.statuses[0].current_limit.unit,
                             rls_pb2.RateLimitResponse.RateLimit.DAY)
            self.assertGreater(r.statuses[0].duration_until_reset.seconds, 0)
            headers = {h.key: h.value for h in r.response_headers_to_add}
            self.assertEqual(headers['X-RateLimit-Limit'], '5')
            self.assertEqual(headers['X-RateLimit-Remaining'], str(4 - n))
            self.assertEqual(r.raw_body, b'')
        # The sixth: over the marketing limit, the per-number limit is not charged.
        for _ in range(2):
            r = rls(marketing('555'))
            self.assertEqual(r.overall_code, OVER)
            self.assertEqual([(s.code, s.limit_remaining) for s in r.statuses],
                             [(OVER, 0), (OK, 95)])
            headers = {h.key: h.value for h in r.response_headers_to_add}
            self.assertIn('Retry-After', headers)
            self.assertIn(b'rate_limit_exceeded', r.raw_body)
        # A peek (hits_addend 0 on the descriptor) charges nothing.
        r = rls(request('messaging', ([('to_number', '555')], {'hits_addend': 0})))
        self.assertEqual((r.overall_code, r.statuses[0].limit_remaining), (OK, 95))
        r = rls(request('messaging', [('to_number', '555')], hits_addend=10))
        self.assertEqual((r.overall_code, r.statuses[0].limit_remaining), (OK, 85))

    def test_unknown_domain_and_invalid_requests(self):
        rls = self.client(self.sluice)
        r = rls(request('other', [('to_number', '1')]))
        self.assertEqual(r.overall_code, OK)
        self.assertFalse(r.statuses[0].HasField('current_limit'))
        for bad in (request('', [('a', 'b')]), request('messaging')):
            with self.assertRaises(grpc.RpcError) as caught:
                rls(bad)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_concurrent_calls_admit_exactly_the_limit(self):
        gateways = self.rls_gateways()
        admitted = []
        lock = threading.Lock()

        def run(gateway):
            rls = RlsClient(gateway.rls_port)
            try:
                r = rls(request('messaging', [('to_number', 'concurrent')]))
                with lock:
                    admitted.append(r.overall_code == OK)
            finally:
                rls.close()
        threads = [threading.Thread(target=run, args=(gateways[i % len(gateways)],))
                   for i in range(160)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(admitted), 160)
        self.assertEqual(sum(admitted), 100)


class RlsMemoryTest(RlsChecks, GatewayTestCase):
    def setUp(self):
        super().setUp()
        write_rls(self.workdir)
        port = free_port()
        self.start_sluice({'rls': {'listen': '127.0.0.1:%d' % port, 'config': 'rls'}})
        self.sluice.rls_port = port

    def rls_gateways(self):
        return [self.sluice]

    def test_reload_with_an_invalid_rls_config_keeps_the_old_one(self):
        rls = self.client(self.sluice)
        write_rls(self.workdir, MESSAGING.replace('unit: day', 'unit: fortnight', 1))
        self.assertFalse(self.sluice.reload())
        self.assertIn('messaging.yaml', self.sluice.stderr())
        r = rls(marketing('777'))
        self.assertEqual(r.statuses[0].current_limit.requests_per_unit, 5)
        write_rls(self.workdir, MESSAGING.replace('requests_per_unit: 5', 'requests_per_unit: 7'))
        self.assertTrue(self.sluice.reload())
        r = rls(marketing('777'))
        self.assertEqual(r.statuses[0].current_limit.requests_per_unit, 7)


class RlsRedisTest(RlsChecks, RedisCase):
    def setUp(self):
        super().setUp()
        write_rls(self.workdir)
        self.redis = RedisServer(self.workdir).start()
        self.addCleanup(self.redis.stop)
        self.gws = [self.gateway(), self.gateway()]
        self.sluice = self.gws[0]

    def gateway(self, on_error='local'):
        port = free_port()
        rls_dir = os.path.join(self.workdir, 'rls')
        gw = self.start_gateway(self.redis, OPEN_POLICY, on_error=on_error,
                                overrides={'rls': {'listen': '127.0.0.1:%d' % port,
                                                   'config': rls_dir}})
        gw.rls_port = port
        return gw

    def rls_gateways(self):
        return self.gws

    def test_redis_down_follows_on_error(self):
        deny = self.gateway(on_error='deny')
        allow = self.gateway(on_error='allow')
        self.redis.stop()
        r = self.client(deny)(marketing('888'))
        self.assertEqual(r.overall_code, OVER)
        self.assertIn(b'storage_unavailable', r.raw_body)
        r = self.client(allow)(marketing('888'))
        self.assertEqual(r.overall_code, OK)
        self.assertFalse(r.statuses[0].HasField('current_limit'))
        local = self.client(self.sluice)
        codes = [local(marketing('888')).overall_code for _ in range(6)]
        self.assertEqual(codes, [OK] * 5 + [OVER])


if __name__ == '__main__':
    unittest.main()
