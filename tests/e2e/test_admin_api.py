"""The admin API (SPEC 9), one test per behaviour: who may call (admin.allow -> 403,
admin.token on writes -> 401), each endpoint's answer, the 400s, 404s and 405s,
secrets masked in /admin/config, limit peek and reset, runtime access entries with a
TTL, and runtime tier assignments."""

import json
import time
import unittest

from harness import GatewayTestCase, RawConnection, port_accepts, request, wait_for

TOKEN = 'admin-token-s3cr3t'
REDIS_PASSWORD = 'redis-pass-s3cr3t'
KEY_FREE = 'key-alpha-free-0001'
KEY_PARTNER = 'key-partner-0002'
KEY_DENIED = 'key-denied-0003'
KEY_PRO = 'key-beta-pro-0006'

POLICY = {
    'tiers': {
        'free': {'rate': '1/1h', 'burst': 3},
        'pro': {'rate': '1/1h', 'burst': 50},
        'enterprise': {'unlimited': True},
    },
    'clients': {
        'default_tier': 'free',
        'api_keys': {KEY_FREE: {'tier': 'free'}, KEY_PRO: {'tier': 'pro'}},
    },
    'access': {
        'allow': {'ips': [], 'api_keys': [KEY_PARTNER], 'users': []},
        'deny': {'ips': [], 'api_keys': [KEY_DENIED], 'users': []},
    },
    'routes': [{'name': 'open', 'match': '/open/**', 'limits': 'off'}],
    'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 5},
        {'name': 'per-key', 'key': 'api_key', 'tier': True},
    ],
}

CONFIG = {
    'admin': {'token': TOKEN},
    'storage': {'redis': {'password': REDIS_PASSWORD}},
}
# Runtime user entries need a user header Sluice believes: from a trusted proxy.
CONFIG_TRUSTED_PEER = dict(CONFIG, identity={'trusted_proxies': ['127.0.0.1/32']})


class AdminTestCase(GatewayTestCase):
    def start(self, config=None, policy=None, wait=True):
        self.start_sluice(config if config is not None else CONFIG,
                          policy if policy is not None else POLICY, wait=wait)

    def admin(self, method, path, body=None, token=TOKEN, headers=None):
        headers = dict(headers or {})
        if token is not None:
            headers['Authorization'] = 'Bearer ' + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        return request(self.sluice.admin_port, method, path, body, headers)

    def ok(self, method, path, body=None, status=200):
        r = self.admin(method, path, body)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header('Content-Type'), 'application/json')
        return r.json()


# Every endpoint, with a method it accepts (writes first need the token).
WRITES = [
    ('POST', '/admin/reload', None),
    ('DELETE', '/admin/limits/per-ip/198.51.100.1', None),
    ('PUT', '/admin/access/deny/ip/198.51.100.1', None),
    ('DELETE', '/admin/access/deny/ip/198.51.100.1', None),
    ('PUT', '/admin/clients/' + KEY_FREE, {'tier': 'pro'}),
    ('DELETE', '/admin/clients/' + KEY_FREE, None),
]
READS = ['/metrics', '/healthz', '/readyz', '/dashboard', '/admin/stats', '/admin/config',
         '/admin/access', '/admin/limits/per-ip/198.51.100.1']


class Authorization(AdminTestCase):
    def test_reads_need_no_token(self):
        self.start()
        for path in READS:
            with self.subTest(path=path):
                self.assertEqual(self.admin('GET', path, token=None).status, 200)
                self.assertEqual(self.admin('GET', path, token='wrong').status, 200)

    def test_writes_without_the_right_token_get_401_and_change_nothing(self):
        self.start()
        for method, path, body in WRITES:
            for auth in (None, 'Bearer wrong', TOKEN, 'Bearer ' + TOKEN + 'x',
                         'Basic ' + TOKEN, 'Bearer'):
                with self.subTest(method=method, path=path, auth=auth):
                    headers = {'Authorization': auth} if auth is not None else {}
                    r = self.admin(method, path, body, token=None, headers=headers)
                    self.assertErrorBody(r, 401, 'unauthorized')
        self.assertEqual(self.ok('GET', '/admin/access'), {'entries': [], 'tiers': []})
        m = self.metrics()
        self.assertEqual(m.total('gateway_config_reloads_total'), 0)

    def test_writes_with_the_token_succeed(self):
        self.start()
        for method, path, body in WRITES:
            with self.subTest(method=method, path=path):
                self.assertEqual(self.admin(method, path, body).status, 200)

    def test_auth_scheme_is_case_insensitive(self):
        # RFC 7235: the scheme is case-insensitive; the token itself is not.
        self.start()
        r = self.admin('POST', '/admin/reload', token=None,
                       headers={'Authorization': 'bearer ' + TOKEN})
        self.assertEqual(r.status, 200, r)
        r = self.admin('POST', '/admin/reload', token=TOKEN.upper())
        self.assertErrorBody(r, 401, 'unauthorized')

    def test_without_a_token_configured_writes_are_open(self):
        self.start({'admin': {'token': ''}})
        self.assertEqual(self.admin('POST', '/admin/reload', token=None).status, 200)

    def test_peer_outside_admin_allow_gets_403_on_every_path(self):
        self.start(dict(CONFIG, admin={'token': TOKEN, 'allow': ['10.0.0.0/8']}), wait=False)
        wait_for(lambda: port_accepts(self.sluice.admin_port), message='the admin listener')
        calls = [('GET', p, None) for p in READS] + WRITES + [
            ('POST', '/api/ratelimit/check', {'key': 'k', 'apiKey': TOKEN}),
            ('GET', '/admin/limits/nope/x', None), ('GET', '/nope', None),
            ('HEAD', '/admin/stats', None)]
        for method, path, body in calls:
            for token in (TOKEN, None):
                with self.subTest(method=method, path=path, token=token):
                    r = self.admin(method, path, body, token=token)
                    self.assertEqual(r.status, 403, r)
                    if method != 'HEAD':
                        self.assertErrorBody(r, 403, 'forbidden')
        self.assertEqual(self.get('/proxied').status, 200)
        self.assertNotIn('reload', self.sluice.stderr())  # the refused POST changed nothing


class Endpoints(AdminTestCase):
    def test_stats(self):
        self.start()
        client = self.client()
        for _ in range(5):
            self.assertEqual(client.get('/x').status, 200)
        self.assertEqual(client.get('/x').status, 429)
        self.assertEqual(self.get('/x', headers={'X-API-Key': KEY_DENIED}).status, 403)
        stats = self.ok('GET', '/admin/stats')
        self.assertEqual(set(stats), {'version', 'time', 'totals', 'rates', 'series',
                                      'top_limits', 'top_clients', 'storage', 'reload',
                                      'penalties', 'adaptive'})
        self.assertEqual(stats['adaptive'], [])  # no limit here has `adaptive:`
        self.assertEqual(stats['penalties'], [])  # no limit here has `penalty:`
        self.assertEqual(stats['totals'], {'allowed': 5, 'limited': 1, 'forbidden': 1})
        self.assertAlmostEqual(stats['time'], time.time(), delta=5)
        self.assertEqual(stats['storage']['backend'], 'memory')
        self.assertEqual(stats['storage']['on_error'], 'local')
        self.assertGreaterEqual(stats['storage']['tracked_keys'], 1)
        self.assertEqual(stats['reload']['last_result'], 'success')
        self.assertEqual((stats['reload']['succeeded'], stats['reload']['failed']), (0, 0))
        self.assertEqual(stats['top_limits'][0]['name'], 'per-ip')

    def test_config_is_the_effective_config_with_secrets_masked(self):
        self.start()
        r = self.admin('GET', '/admin/config', token=None)
        self.assertEqual(r.status, 200)
        for secret in (TOKEN, REDIS_PASSWORD, KEY_FREE, KEY_PRO, KEY_PARTNER, KEY_DENIED):
            self.assertNotIn(secret, r.text)
        config = r.json()
        self.assertEqual(config['server']['admin']['token'], '****')
        self.assertEqual(config['server']['storage']['redis']['password'], '****')
        # A list: masked keys often look alike ("key-****"), none may hide another.
        self.assertEqual(config['policy']['api_keys'],
                         [{'key': 'key-****', 'tier': 'free', 'user': ''},
                          {'key': 'key-****', 'tier': 'pro', 'user': ''}])
        self.assertEqual(config['policy']['access']['allow']['api_keys'], ['key-****'])
        self.assertEqual(config['policy']['access']['deny']['api_keys'], ['key-****'])
        # The effective values, defaults included.
        self.assertEqual(config['server']['listen'], ['127.0.0.1:%d' % self.sluice.port])
        self.assertEqual(config['server']['headers']['standard'], 'draft-6')
        self.assertEqual([l['name'] for l in config['policy']['limits']],
                         ['per-ip', 'per-key'])
        self.assertEqual(config['policy']['limits'][0]['burst'], 5)

    def test_config_shows_the_reloaded_version(self):
        self.start()
        self.sluice.write_config(policy=dict(POLICY, limits=[
            {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 9}]))
        self.assertEqual(self.ok('POST', '/admin/reload'), {'status': 'reloaded'})
        self.assertEqual(self.ok('GET', '/admin/config')['policy']['limits'][0]['burst'], 9)

    def test_reload_failure_answers_400_with_the_errors(self):
        self.start()
        self.sluice.write_config(policy='limits: [{name: a, key: ip, rate: 0/s}]\n')
        r = self.admin('POST', '/admin/reload')
        self.assertEqual(r.status, 400)
        error = r.json()['error']
        self.assertEqual(error['code'], 'invalid_config')
        self.assertRegex(error['details'][0], r'policies\.yaml:1:\d+: limits\[0\]\.rate: ')
        reload = self.ok('GET', '/admin/stats')['reload']
        self.assertEqual(reload['last_result'], 'error')
        self.assertEqual(reload['last_error'], error['details'][0])
        self.assertEqual(reload['failed'], 1)

    def test_peek_charges_nothing(self):
        self.start()
        client = self.client()
        for _ in range(2):
            client.get('/x')
        for _ in range(5):
            peek = self.ok('GET', '/admin/limits/per-ip/127.0.0.1')
            self.assertEqual(peek, {'name': 'per-ip', 'key': '127.0.0.1',
                                    'algorithm': 'token_bucket', 'limit': 5, 'remaining': 3,
                                    'reset_seconds': peek['reset_seconds']})
            self.assertGreater(peek['reset_seconds'], 0)
        self.assertEqual(client.get('/x').header('X-RateLimit-Remaining'), '2')
        # An unknown key is a fresh one; peeking does not create it.
        fresh = self.ok('GET', '/admin/limits/per-ip/198.51.100.9')
        self.assertEqual((fresh['limit'], fresh['remaining'], fresh['reset_seconds']), (5, 5, 0))

    def test_peek_a_tier_aware_limit(self):
        self.start()
        self.get('/x', headers={'X-API-Key': KEY_FREE})
        key = '/admin/limits/per-key/' + KEY_FREE
        self.assertEqual(self.ok('GET', key)['limit'], 3)  # the default tier
        self.assertEqual(self.ok('GET', key)['remaining'], 2)
        self.assertEqual(self.ok('GET', key + '?tier=pro')['limit'], 50)
        self.assertErrorBody(self.admin('GET', key + '?tier=gold'), 400, 'bad_request', 'gold')
        self.assertErrorBody(self.admin('GET', key + '?tier=enterprise'), 400, 'bad_request',
                             'unlimited')

    def test_peek_percent_encoded_key(self):
        self.start()
        peek = self.ok('GET', '/admin/limits/per-ip/2001:db8::%2F64')
        self.assertEqual(peek['key'], '2001:db8::/64')
        self.assertErrorBody(self.admin('GET', '/admin/limits/per-ip/%zz'), 400, 'bad_request')

    def test_delete_resets_a_limited_client(self):
        self.start()
        client = self.client()
        for _ in range(5):
            self.assertEqual(client.get('/x').status, 200)
        self.assertEqual(client.get('/x').status, 429)
        self.assertEqual(self.ok('DELETE', '/admin/limits/per-ip/127.0.0.1'),
                         {'limit': 'per-ip', 'key': '127.0.0.1', 'reset': True})
        self.assertEqual(self.ok('GET', '/admin/limits/per-ip/127.0.0.1')['remaining'], 5)
        r = client.get('/x')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '4')

    def test_access_deny_with_ttl_expires(self):
        self.start()
        self.assertEqual(self.ok('PUT', '/admin/access/deny/ip/127.0.0.1?ttl=2s'),
                         {'list': 'deny', 'subject': 'ip', 'value': '127.0.0.1',
                          'ttl_seconds': 2})
        started = time.monotonic()
        self.assertErrorBody(self.get('/x'), 403, 'forbidden')
        self.assertErrorBody(self.get('/open/x'), 403, 'forbidden')  # even bypass routes
        entries = self.ok('GET', '/admin/access')['entries']
        self.assertEqual(len(entries), 1)
        self.assertEqual({k: entries[0][k] for k in ('list', 'subject', 'value')},
                         {'list': 'deny', 'subject': 'ip', 'value': '127.0.0.1'})
        self.assertAlmostEqual(entries[0]['expires_at'], time.time() + 2, delta=1)
        self.assertEqual(self.upstream.count, 0)

        wait_for(lambda: self.get('/x').status == 200, timeout=4, interval=0.1,
                 message='the deny entry to expire')
        self.assertGreaterEqual(time.monotonic() - started, 1.5)
        self.assertEqual(self.ok('GET', '/admin/access')['entries'], [])

    def test_access_entries_without_ttl_until_deleted(self):
        self.start(CONFIG_TRUSTED_PEER)
        self.ok('PUT', '/admin/access/deny/user/mallory')
        self.assertEqual(self.get('/x', headers={'X-User-ID': 'mallory'}).status, 403)
        self.assertEqual(self.get('/x', headers={'X-User-ID': 'alice'}).status, 200)
        self.assertEqual(self.ok('DELETE', '/admin/access/deny/user/mallory'), {'removed': True})
        self.assertEqual(self.get('/x', headers={'X-User-ID': 'mallory'}).status, 200)

    def test_access_allow_api_key_skips_limits_and_is_masked(self):
        self.start()
        key = 'key-runtime-vip-0004'
        body = self.ok('PUT', '/admin/access/allow/api_key/' + key)
        self.assertEqual(body, {'list': 'allow', 'subject': 'api_key', 'value': 'key-****'})
        client = self.client()
        for _ in range(8):  # beyond per-ip's burst of 5
            r = client.get('/x', headers={'X-API-Key': key})
            self.assertEqual(r.status, 200)
            self.assertIsNone(r.header('X-RateLimit-Limit'))
        listing = self.admin('GET', '/admin/access')
        self.assertNotIn(key, listing.text)
        self.assertEqual(listing.json()['entries'][0]['value'], 'key-****')

    def test_access_ip_entries_are_canonical(self):
        self.start()
        body = self.ok('PUT', '/admin/access/deny/ip/2001:DB8:0:0::1')
        self.assertEqual(body['value'], '2001:db8::1')
        self.ok('DELETE', '/admin/access/deny/ip/2001:db8::1')
        self.assertEqual(self.ok('GET', '/admin/access')['entries'], [])

    def test_runtime_tier_changes_the_client_limits(self):
        self.start()
        client = self.client()
        headers = {'X-API-Key': KEY_FREE}
        r = client.get('/x', headers=headers)
        self.assertEqual((r.header('X-RateLimit-Scope'), r.header('X-RateLimit-Limit')),
                         ('per-key', '3'))
        self.assertEqual(self.ok('PUT', '/admin/clients/' + KEY_FREE, {'tier': 'pro'}),
                         {'api_key': 'key-****', 'tier': 'pro'})
        self.ok('PUT', '/admin/clients/key-other-0007', {'tier': 'free'})
        self.assertEqual(self.ok('GET', '/admin/access')['tiers'],
                         [{'api_key': 'key-****', 'tier': 'pro'},
                          {'api_key': 'key-****', 'tier': 'free'}])
        r = client.get('/x', headers=headers)
        # per-ip (5) is now the one closest to exhaustion; per-client holds 50.
        self.assertEqual(r.header('X-RateLimit-Scope'), 'per-ip')
        self.assertIn('50;w=', r.header('RateLimit-Policy'))
        self.assertEqual(self.ok('DELETE', '/admin/clients/' + KEY_FREE), {'removed': True})
        r = client.get('/x', headers=headers)
        self.assertEqual((r.header('X-RateLimit-Scope'), r.header('X-RateLimit-Limit')),
                         ('per-key', '3'))

    def test_runtime_tier_unlimited_skips_tier_limits(self):
        self.start()
        self.ok('PUT', '/admin/clients/key-unlisted-0005', {'tier': 'enterprise'})
        r = self.get('/x', headers={'X-API-Key': 'key-unlisted-0005'})
        self.assertEqual(r.header('X-RateLimit-Scope'), 'per-ip')
        self.assertNotIn('3;w=', r.header('RateLimit-Policy'))

    def test_runtime_entries_survive_a_reload(self):
        self.start(CONFIG_TRUSTED_PEER)
        self.ok('PUT', '/admin/access/deny/user/mallory')
        self.ok('PUT', '/admin/clients/' + KEY_FREE, {'tier': 'pro'})
        self.assertEqual(self.ok('POST', '/admin/reload'), {'status': 'reloaded'})
        self.assertEqual(self.get('/x', headers={'X-User-ID': 'mallory'}).status, 403)
        self.assertEqual(self.ok('GET', '/admin/access')['tiers'],
                         [{'api_key': 'key-****', 'tier': 'pro'}])


class BadRequests(AdminTestCase):
    def test_bad_access_paths_and_values(self):
        self.start()
        for path in ['/admin/access/maybe/ip/1.2.3.4', '/admin/access/deny/email/a@b',
                     '/admin/access/deny/ip/', '/admin/access/deny/ip',
                     '/admin/access/deny', '/admin/access/deny/ip/not-an-ip',
                     '/admin/access/deny/ip/10.0.0.0%2F8', '/admin/access/deny/user/%zz']:
            with self.subTest(path=path):
                self.assertErrorBody(self.admin('PUT', path), 400, 'bad_request')
        self.assertEqual(self.ok('GET', '/admin/access')['entries'], [])

    def test_bad_ttl(self):
        self.start()
        for ttl in ['abc', '0s', '-5s', '', '5', '10%20s', '1y']:
            with self.subTest(ttl=ttl):
                r = self.admin('PUT', '/admin/access/deny/ip/198.51.100.1?ttl=' + ttl)
                self.assertErrorBody(r, 400, 'bad_request', 'ttl')
        self.assertEqual(self.ok('GET', '/admin/access')['entries'], [])

    def test_bad_tier_assignments(self):
        self.start()
        path = '/admin/clients/' + KEY_FREE
        for body in ['not json', '{"tier":', '[]', '{}', '{"tier": 5}', '{"tier": null}',
                     '{"tier": "gold"}', '']:
            with self.subTest(body=body):
                r = self.admin('PUT', path, body)
                self.assertErrorBody(r, 400, 'bad_request')
        self.assertErrorBody(self.admin('PUT', '/admin/clients/', '{"tier":"pro"}'),
                             400, 'bad_request')
        self.assertEqual(self.ok('GET', '/admin/access')['tiers'], [])

    def test_bad_limit_paths(self):
        self.start()
        self.assertErrorBody(self.admin('GET', '/admin/limits/per-ip'), 400, 'bad_request')
        self.assertErrorBody(self.admin('GET', '/admin/limits/per-ip/'), 400, 'bad_request')
        # The path names a resource: an unknown limit is not found.
        self.assertErrorBody(self.admin('GET', '/admin/limits/nope/127.0.0.1'), 404,
                             'not_found', 'nope')
        self.assertErrorBody(self.admin('DELETE', '/admin/limits/nope/127.0.0.1'), 404,
                             'not_found', 'nope')

    def test_unknown_paths_404(self):
        self.start()
        for method, path in [('GET', '/admin'), ('GET', '/admin/'), ('GET', '/admin/nope'),
                             ('GET', '/api/ratelimit'), ('POST', '/admin/nope'),
                             ('GET', '/admin/statsx'), ('GET', '/metrics/x')]:
            with self.subTest(method=method, path=path):
                self.assertErrorBody(self.admin(method, path), 404, 'not_found')

    def test_wrong_methods_405(self):
        self.start()
        for method, path in [('GET', '/admin/reload'), ('PUT', '/admin/reload'),
                             ('GET', '/api/ratelimit/check'), ('POST', '/admin/limits/per-ip/k'),
                             ('PUT', '/admin/limits/per-ip/k'),
                             ('GET', '/admin/access/deny/ip/198.51.100.1'),
                             ('POST', '/admin/access/deny/ip/198.51.100.1'),
                             ('GET', '/admin/clients/' + KEY_FREE),
                             ('POST', '/admin/stats'), ('DELETE', '/admin/config'),
                             ('POST', '/metrics'), ('PUT', '/admin/access'),
                             ('DELETE', '/healthz')]:
            with self.subTest(method=method, path=path):
                r = self.admin(method, path, '{}')
                self.assertErrorBody(r, 405, 'method_not_allowed')
                self.assertTrue(r.header('Allow'), r)


class MalformedRequests(AdminTestCase):
    """SPEC 13: the admin listener answers bad bytes like the proxy listener (JSON
    error, Connection: close), and no field value, head or trailer can crash it."""

    def raw_admin(self):
        conn = RawConnection(self.sluice.admin_port)
        self.addCleanup(conn.close)
        return conn

    def assertRejectedAndClosed(self, raw_request, status, code, message_part=None):
        conn = self.raw_admin()
        conn.send(raw_request)
        response = conn.read_response()
        self.assertErrorBody(response, status, code, message_part)
        self.assertEqual(response.header('Connection'), 'close', response)
        self.assertTrue(conn.is_closed(), 'the connection stays open after %d' % status)
        return response

    def assertAlive(self):
        self.assertTrue(self.sluice.running(), self.sluice.stderr())
        self.assertEqual(self.admin('GET', '/healthz').json(), {'status': 'ok'})

    def test_malformed_requests_get_400(self):
        self.start()
        post = 'POST /api/ratelimit/check HTTP/1.1\r\nHost: x\r\n'
        for raw_request in ['GARBAGE\r\n\r\n',
                            'GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n',
                            'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
                            'GET /healthz HTTP/1.1\r\nBad Name: v\r\n\r\n',
                            post + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
                            post + 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
                            post + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
                            post + 'Transfer-Encoding: gzip\r\n\r\nxx',
                            post + 'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n']:
            with self.subTest(request=raw_request):
                self.assertRejectedAndClosed(raw_request, 400, 'bad_request')
        self.assertAlive()

    def test_exact_bytes_of_a_rejection(self):
        self.start()
        conn = self.raw_admin()
        conn.send('GARBAGE\r\n\r\n')
        body = b'{"error":{"code":"bad_request","message":"Malformed request: bad method"}}'
        self.assertEqual(conn.read_until_close(),
                         b'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n'
                         b'Cache-Control: no-store\r\nConnection: close\r\n'
                         b'Content-Length: %d\r\n\r\n' % len(body) + body)

    def test_head_over_the_admin_limit_gets_431(self):
        self.start()
        for size in (40 * 1024, 70000):  # 70,000 > 65,535: Beast's field-value maximum
            with self.subTest(size=size):
                self.assertRejectedAndClosed(
                    'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' % ('a' * size), 431,
                    'headers_too_large', '16 KiB')
        many = ''.join('X-F%d: v\r\n' % i for i in range(3000))  # ~30 KB of small fields
        self.assertRejectedAndClosed('GET /healthz HTTP/1.1\r\nHost: x\r\n' + many + '\r\n', 431,
                                     'headers_too_large')
        self.assertAlive()

    def test_trailers_count_against_the_head_limit(self):
        self.start()
        head = ('POST /api/ratelimit/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' % TOKEN)
        body = '{"key":"k"}'
        chunk = '%x\r\n%s\r\n' % (len(body), body)
        big = chunk + '0\r\nX-Trailer: %s\r\n\r\n' % ('a' * 70000)
        self.assertRejectedAndClosed(head + big, 431, 'headers_too_large', 'trailers')
        many = chunk + '0\r\n' + ''.join('X-T%d: v\r\n' % i for i in range(3000)) + '\r\n'
        self.assertRejectedAndClosed(head + many, 431, 'headers_too_large', 'trailers')
        # A chunked request with small trailers is served.
        conn = self.raw_admin()
        conn.send(head + chunk + '0\r\nX-Trailer: small\r\n\r\n')
        response = conn.read_response()
        self.assertEqual(response.status, 200, response)
        self.assertEqual(response.json()['key'], 'k')
        self.assertAlive()

    def test_body_over_the_admin_limit_gets_413(self):
        self.start()
        post = 'POST /api/ratelimit/check HTTP/1.1\r\nHost: x\r\n'
        self.assertRejectedAndClosed(post + 'Content-Length: 2000000\r\n\r\n', 413,
                                     'payload_too_large', '1 MiB')
        chunk = '%x\r\n%s\r\n' % (64 * 1024, 'x' * (64 * 1024))
        self.assertRejectedAndClosed(post + 'Transfer-Encoding: chunked\r\n\r\n' + chunk * 17 +
                                     '0\r\n\r\n', 413, 'payload_too_large')
        self.assertAlive()

    def test_pipelined_requests_get_their_answers_in_order(self):
        self.start()
        conn = self.raw_admin()
        conn.send('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
                  'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'
                  'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        self.assertEqual(conn.read_response().json(), {'status': 'ok'})
        self.assertErrorBody(conn.read_response(), 404, 'not_found')
        self.assertEqual(conn.read_response().json(), {'status': 'ok'})
        self.assertTrue(conn.is_closed())

    def test_peer_outside_admin_allow_is_refused_before_its_request_is_read(self):
        # The 403 comes at accept, before the peer sends a byte; what it sends next is
        # never parsed, so a field no parser could hold costs nothing.
        self.start(dict(CONFIG, admin={'token': TOKEN, 'allow': ['10.0.0.0/8']}), wait=False)
        wait_for(lambda: port_accepts(self.sluice.admin_port), message='the admin listener')
        conn = self.raw_admin()
        body = b'{"error":{"code":"forbidden","message":"Peer not allowed on the admin listener"}}'
        self.assertEqual(conn.read_until_close(),
                         b'HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n'
                         b'Cache-Control: no-store\r\nConnection: close\r\n'
                         b'Content-Length: %d\r\n\r\n' % len(body) + body)
        for raw_request in ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' % ('a' * 70000),
                            'POST /admin/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked'
                            '\r\n\r\n0\r\nX-Trailer: %s\r\n\r\n' % ('a' * 70000),
                            'GARBAGE\r\n\r\n']:
            with self.subTest(request=raw_request[:20]):
                conn = self.raw_admin()
                conn.send(raw_request)
                self.assertErrorBody(conn.read_response(), 403, 'forbidden')
                self.assertTrue(conn.is_closed())
        self.assertTrue(self.sluice.running(), self.sluice.stderr())
        self.assertEqual(self.get('/proxied').status, 200)


if __name__ == '__main__':
    unittest.main()
