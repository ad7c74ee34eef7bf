"""Envoy's rate limit service (issue 13): a real gRPC client (Debian's python3-grpcio,
messages generated from the vendored protos with protoc) calls
RateLimitService/ShouldRateLimit on `rls.listen`, with envoyproxy/ratelimit's README
example 2 (messaging) as the configuration; envoyproxy/ratelimit's POST /json on the admin
listener; `charging: each`; the `sluice:` extension. Memory, Redis and Redis Cluster."""

import atexit
import json
import os
import shutil
import subprocess
import types
import sys
import tempfile
import threading
import time
import unittest

from harness import GatewayTestCase, OPEN_POLICY, free_port, request as http_request, wait_for
from redis_support import RedisCase, RedisServer, redis_call

SOURCE_DIR = os.environ.get('SLUICE_SOURCE_DIR',
                            os.path.join(os.path.dirname(__file__), '..', '..'))
PROTO_DIR = os.path.join(SOURCE_DIR, 'proto')
# The benchmark's load generator, built next to the sluice binary.
RLS_LOAD = os.environ.get('SLUICE_RLS_LOAD') or os.path.join(
    os.path.dirname(os.environ.get('SLUICE_BIN', '')), 'sluice_rls_load')
PROTOS = ['envoy/type/v3/ratelimit_unit.proto', 'envoy/config/core/v3/base.proto',
          'envoy/extensions/common/ratelimit/v3/ratelimit.proto',
          'envoy/service/ratelimit/v3/rls.proto']

# The messages, generated once per run into a temporary directory, removed at exit.
_generated = tempfile.mkdtemp(prefix='sluice-rls-pb-')
atexit.register(shutil.rmtree, _generated, ignore_errors=True)
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


def concurrent_calls(gateways, number, calls=160):
    """`calls` ShouldRateLimit calls for one number's descriptor (limit 100), all at once,
    spread over the gateways, each on its own connection: whether each was admitted."""
    admitted = []
    lock = threading.Lock()

    def run(gateway):
        rls = RlsClient(gateway.rls_port)
        try:
            ok = rls(request('messaging', [('to_number', number)])).overall_code == OK
            with lock:
                admitted.append(ok)
        finally:
            rls.close()
    threads = [threading.Thread(target=run, args=(gateways[i % len(gateways)],))
               for i in range(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return admitted


def storage_errors(gateways):
    """What a failed exactness check needs to say: a decision the store could not make
    is decided by storage.on_error, not by the shared count."""
    return 'storage errors per gateway: %s' % [
        g.metrics().total('rate_limit_storage_errors_total') for g in gateways]


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


def post_json(gateway, body):
    """POST /json on the admin listener: (status, parsed body)."""
    r = http_request(gateway.admin_port, 'POST', '/json',
                     body=body if isinstance(body, bytes) else json.dumps(body).encode(),
                     headers={'Content-Type': 'application/json'})
    return r.status, r.json()


def descriptor_json(*entries):
    return {'entries': [{'key': k, 'value': v} for k, v in entries]}


class RlsChecks:
    def client(self, gateway):
        c = RlsClient(gateway.rls_port)
        self.addCleanup(c.close)
        return c

    def test_json_endpoint_answers_as_envoyproxy_ratelimit(self):
        body = {'domain': 'messaging',
                'descriptors': [descriptor_json(('message_type', 'marketing'), ('to_number', 'j1')),
                                descriptor_json(('to_number', 'j1'))]}
        for n in range(5):
            status, r = post_json(self.sluice, body)
            self.assertEqual(status, 200, r)
            self.assertEqual(r['overallCode'], 'OK')
            self.assertEqual([(x['code'], x.get('limitRemaining', 0)) for x in r['statuses']],
                             [('OK', 4 - n), ('OK', 99 - n)])
            self.assertEqual(r['statuses'][0]['currentLimit'],
                             {'requestsPerUnit': 5, 'unit': 'DAY'})
        status, r = post_json(self.sluice, body)
        self.assertEqual(status, 429, r)
        self.assertEqual(r['overallCode'], 'OVER_LIMIT')
        self.assertEqual([x['code'] for x in r['statuses']], ['OVER_LIMIT', 'OK'])
        headers = {h['key']: h['value'] for h in r['responseHeadersToAdd']}
        self.assertIn('Retry-After', headers)
        # The same state as the gRPC service's: the per-number limit was charged 5 times.
        g = self.client(self.sluice)(request('messaging', [('to_number', 'j1')]))
        self.assertEqual(g.statuses[0].limit_remaining, 94)
        # What is not a request: the JSON error shape, nothing charged.
        for bad, why in ((b'{"domain": "messaging", "descriptors": [', 'Invalid rate limit request'),
                         ({'domain': 'messaging', 'descriptor': []}, 'Invalid rate limit request'),
                         ({'domain': 'messaging'}, 'descriptor list must not be empty')):
            status, r = post_json(self.sluice, bad)
            self.assertEqual(status, 400, r)
            self.assertEqual(r['error']['code'], 'bad_request')
            self.assertIn(why, r['error']['message'])
        r = http_request(self.sluice.admin_port, 'GET', '/json')
        self.assertEqual(r.status, 405)

    def test_bounds_on_descriptors_and_entries(self):
        rls = self.client(self.sluice)
        for bad, why in ((request('messaging', *([[('to_number', '1')]] * 65)), 'descriptors'),
                         (request('messaging', [('k%d' % i, 'v') for i in range(17)]), 'entries')):
            with self.assertRaises(grpc.RpcError) as caught:
                rls(bad)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn('too many ' + why, caught.exception.details())
        # 64 descriptors of 16 entries are decided (none of them has a limit).
        r = rls(request('messaging', *([[('k%d' % i, 'v') for i in range(16)]] * 64)))
        self.assertEqual(r.overall_code, OK)
        self.assertEqual(len(r.statuses), 64)

    def test_all_or_nothing_across_descriptors_on_this_storage(self):
        rls = self.client(self.sluice)
        for _ in range(5):
            self.assertEqual(rls(marketing('aon')).overall_code, OK)
        r = rls(marketing('aon'))
        self.assertEqual([(s.code, s.limit_remaining) for s in r.statuses], [(OVER, 0), (OK, 95)])

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
        admitted = concurrent_calls(gateways, 'concurrent')
        self.assertEqual(len(admitted), 160)
        self.assertEqual(sum(admitted), 100, storage_errors(gateways))


EACH_AND_BUCKET = MESSAGING + """\
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 1
      sluice: { algorithm: token_bucket, burst: 3 }
  - key: org
    rate_limit:
      unit: month
      requests_per_unit: 2
      sluice: { calendar: { time_zone: Pacific/Auckland } }
"""


def auckland_month_end(now):
    """The Unix second the calendar month holding `now` ends in Pacific/Auckland."""
    from datetime import datetime
    from zoneinfo import ZoneInfo
    tz = ZoneInfo('Pacific/Auckland')
    local = datetime.fromtimestamp(now, tz)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return int(datetime(year, month, 1, tzinfo=tz).timestamp())


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


    def test_the_benchmarks_paced_load_is_answered_and_counted_exactly(self):
        """scripts/bench/rls_bench.py's load generator (sluice_rls_load): 500 calls due over
        a quarter of a second on one number's descriptor (100 a day): every call answered,
        exactly 100 OK and 400 OVER_LIMIT, and Sluice counted each of them."""
        if not os.path.exists(RLS_LOAD):
            self.skipTest('no sluice_rls_load at %s (SLUICE_RLS_LOAD)' % RLS_LOAD)
        body = os.path.join(self.workdir, 'body.bin')
        payload = request('messaging', [('to_number', 'paced')]).SerializeToString()
        with open(body, 'wb') as f:
            f.write(b'\x00' + len(payload).to_bytes(4, 'big') + payload)
        before = self.sluice.metrics().total('rate_limit_rls_requests_total')
        run = subprocess.run([RLS_LOAD, '--target', '127.0.0.1:%d' % self.sluice.rls_port,
                              '--body', body, '--rate', '2000', '--seconds', '0.25',
                              '--connections', '2'], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        r = json.loads(run.stdout)
        self.assertEqual((r['started'], r['done']), (500, 500))
        self.assertEqual(r['grpc_codes'], {'0': 500})
        self.assertEqual(r['overall_codes'], {'OK': 100, 'OVER_LIMIT': 400})
        self.assertGreater(r['start_span_s'], 0.15)  # sent on a schedule, not all at once
        for latencies in (r['from_due'], r['from_send']):
            self.assertLessEqual(latencies['p50_ms'], latencies['p99_ms'])
            self.assertLessEqual(latencies['p99_ms'], latencies['max_ms'])
        self.assertEqual(self.sluice.metrics().total('rate_limit_rls_requests_total') - before, 500)


class ChargingEachChecks:
    """`charging: each` (envoyproxy/ratelimit's behaviour) and the `sluice:` extension;
    self.rls is a client of a gateway configured with EACH_AND_BUCKET."""

    def test_each_descriptor_is_charged_even_when_another_is_over(self):
        for _ in range(5):
            self.assertEqual(self.rls(marketing('each')).overall_code, OK)
        for n in range(2):
            r = self.rls(marketing('each'))
            self.assertEqual(r.overall_code, OVER)
            self.assertEqual([(s.code, s.limit_remaining) for s in r.statuses],
                             [(OVER, 0), (OK, 94 - n)])

    def test_a_token_bucket_with_a_burst_from_the_sluice_extension(self):
        codes = [self.rls(request('messaging', [('user', 'u1')])) for _ in range(4)]
        self.assertEqual([c.overall_code for c in codes], [OK, OK, OK, OVER])
        self.assertEqual([c.statuses[0].limit_remaining for c in codes[:3]], [2, 1, 0])
        self.assertEqual(codes[3].statuses[0].current_limit.requests_per_unit, 1)
        headers = {h.key: h.value for h in codes[3].response_headers_to_add}
        self.assertEqual(headers['X-RateLimit-Limit'], '3')  # the bucket's capacity
        self.assertEqual(headers['Retry-After'], '1')


    def test_a_calendar_month_from_the_sluice_extension(self):
        end = auckland_month_end(time.time())
        codes = [self.rls(request('messaging', [('org', 'acme')])) for _ in range(3)]
        self.assertEqual([c.overall_code for c in codes], [OK, OK, OVER])
        # Until local midnight of the 1st in Auckland, not a 30-day epoch window.
        self.assertAlmostEqual(codes[2].statuses[0].duration_until_reset.seconds,
                               end - time.time(), delta=3)
        headers = {h.key: h.value for h in codes[2].response_headers_to_add}
        self.assertEqual(int(headers['X-RateLimit-Reset']), end)


class RlsChargingEachTest(ChargingEachChecks, GatewayTestCase):
    def setUp(self):
        super().setUp()
        write_rls(self.workdir, EACH_AND_BUCKET)
        self.port = free_port()
        self.start_sluice({'rls': {'listen': '127.0.0.1:%d' % self.port, 'config': 'rls',
                                   'charging': 'each'}})
        self.rls = RlsClient(self.port)
        self.addCleanup(self.rls.close)


class RlsChargingEachRedisTest(ChargingEachChecks, RedisCase):
    """The same on Redis: each descriptor's round trip in flight at once, and the token
    bucket decided by the Lua code."""

    def setUp(self):
        super().setUp()
        write_rls(self.workdir, EACH_AND_BUCKET)
        redis = RedisServer(self.workdir).start()
        self.addCleanup(redis.stop)
        port = free_port()
        self.start_gateway(redis, OPEN_POLICY, on_error='deny', overrides={
            'rls': {'listen': '127.0.0.1:%d' % port, 'config': os.path.join(self.workdir, 'rls'),
                    'charging': 'each'}})
        self.rls = RlsClient(port)
        self.addCleanup(self.rls.close)


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
        # A timeout no round trip reaches, even under ASan on a busy CI box: a call that
        # times out is decided by on_error ('local' admits from this gateway's own
        # count), and the exactness check would count that as the store's doing.
        gw = self.start_gateway(self.redis, OPEN_POLICY, on_error=on_error,
                                overrides={'storage': {'redis': {'timeout': '2s'}},
                                           'rls': {'listen': '127.0.0.1:%d' % port,
                                                   'config': rls_dir}})
        gw.rls_port = port
        return gw

    def rls_gateways(self):
        return self.gws

    def test_sigterm_with_calls_waiting_on_redis_exits_cleanly(self):
        # Calls keep arriving while the gateway drains: those in flight on Redis finish
        # on the workers, which the drain leaves running until the service has stopped.
        gw = self.gateway()
        stop = threading.Event()
        answered = []

        def hammer():
            rls = RlsClient(gw.rls_port)
            try:
                while not stop.is_set():
                    futures = [rls.call.future(marketing('t%d' % i), timeout=5) for i in range(32)]
                    for f in futures:
                        try:
                            answered.append(f.result().overall_code)
                        except grpc.RpcError:
                            pass  # refused once the service stopped
            finally:
                rls.close()
        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        wait_for(lambda: len(answered) > 100, timeout=10, message='calls answered')
        try:
            self.assertEqual(gw.stop(timeout=10), 0)
        finally:
            stop.set()
            for t in threads:
                t.join()

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


class RlsRedisClusterTest(RedisCase):
    """Descriptors whose entries hash to different slots are decided per slot, and still
    all-or-nothing; two gateways on one cluster admit exactly the limit."""

    def setUp(self):
        super().setUp()
        write_rls(self.workdir)
        self.cluster = self.start_cluster()

    def gateway(self):
        port = free_port()
        seeds = types.SimpleNamespace(address=self.cluster.addresses[0])
        gw = self.start_gateway(seeds, OPEN_POLICY, on_error='deny', overrides={
            'storage': {'redis': {'mode': 'cluster', 'address': self.cluster.addresses,
                                  'timeout': '2s'}},  # as RlsRedisTest's: no fallback
            'rls': {'listen': '127.0.0.1:%d' % port,
                    'config': os.path.join(self.workdir, 'rls')}})
        gw.rls_port = port
        return gw

    def test_exact_and_all_or_nothing_across_slots(self):
        # A number whose two descriptors' state lives on two masters: the key's hash tag
        # is the request's entries, each length-prefixed.
        def port_of(entries):
            text = ''.join('%d:%s%d:%s' % (len(k), k, len(v), v) for k, v in entries)
            return self.cluster.key_port('{%s}' % text)
        number = next(n for n in ('c%d' % i for i in range(100))
                      if port_of([('message_type', 'marketing'), ('to_number', n)]) !=
                      port_of([('to_number', n)]))
        gws = [self.gateway(), self.gateway()]
        clients = [RlsClient(g.rls_port) for g in gws]
        for c in clients:
            self.addCleanup(c.close)
        for n in range(5):
            self.assertEqual(clients[n % 2](marketing(number)).overall_code, OK)
        r = clients[1](marketing(number))
        self.assertEqual([(s.code, s.limit_remaining) for s in r.statuses], [(OVER, 0), (OK, 95)])
        # Both keys are where their tags put them, on two masters.
        found = {port: redis_call(port, 'KEYS', '*rls:messaging*')
                 for port in self.cluster.master_ports()}
        self.assertEqual(sorted(len(keys) for keys in found.values()), [0, 1, 1], found)

        # Concurrent calls through both gateways admit exactly the limit.
        admitted = concurrent_calls(gws, 'cc')
        self.assertEqual((len(admitted), sum(admitted)), (160, 100), storage_errors(gws))


if __name__ == '__main__':
    unittest.main()
