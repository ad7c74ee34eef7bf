"""JWT identity (issue 14): tokens verified against a JWKS the test makes (an RSA key
from the openssl CLI, an HMAC secret), claims as limit keys (jwt:org_id), the tier and
the user from claims, 401 with the JSON error shape, WWW-Authenticate and a counted
reason for every refusal (expired, bad signature, alg none, wrong audience, unknown key,
missing when required), anonymous requests without a token, key rotation by reload (a
broken JWKS keeps the old one), and two gateways sharing per-org limits through Redis."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import unittest

from harness import GatewayTestCase, admin_get, request, wait_for
from redis_support import RedisCase, redis_call

SECRET = b'0123456789abcdef0123456789abcdef-e2e'
ISSUER = 'https://issuer.test/'


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def make_rsa_key(path):
    subprocess.run(['openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
                    '-out', path], check=True, capture_output=True)
    modulus = subprocess.run(['openssl', 'rsa', '-in', path, '-noout', '-modulus'], check=True,
                             capture_output=True, text=True).stdout.strip().split('=', 1)[1]
    return {'kty': 'RSA', 'kid': os.path.basename(path), 'alg': 'RS256', 'use': 'sig',
            'n': b64url(bytes.fromhex(modulus)), 'e': 'AQAB'}


def write_jwks(path, keys):
    with open(path, 'w') as f:
        json.dump({'keys': keys}, f)


def hmac_jwk(kid='hmac-1', secret=SECRET):
    return {'kty': 'oct', 'kid': kid, 'k': b64url(secret)}


def token(claims, alg='HS256', kid='hmac-1', secret=SECRET, rsa_key=None):
    header = {'alg': alg, 'typ': 'JWT'}
    if kid is not None:
        header['kid'] = kid
    signing_input = (b64url(json.dumps(header).encode()) + '.' +
                     b64url(json.dumps(claims).encode())).encode()
    if alg == 'HS256':
        signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    elif alg == 'RS256':
        signature = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', rsa_key],
                                   input=signing_input, check=True, capture_output=True).stdout
    else:
        signature = b'junk'  # alg none and the like: the algorithm is refused, whatever follows
    return signing_input.decode() + '.' + b64url(signature)


def claims(**extra):
    now = int(time.time())
    base = {'iss': ISSUER, 'aud': 'api', 'iat': now, 'exp': now + 300}
    base.update(extra)
    return base


def bearer(t):
    return {'Authorization': 'Bearer ' + t}


POLICY = {
    'tiers': {'free': {'rate': '2/min'}, 'pro': {'rate': '5/min'}},
    'clients': {'default_tier': 'free'},
    'routes': [{'name': 'health', 'match': 'GET /healthz', 'limits': 'off'},
               {'name': 'tiered', 'match': '/tiered/**'}],
    'limits': [
        {'name': 'per-org', 'key': 'jwt:org_id', 'algorithm': 'fixed_window', 'rate': '3/min',
         'routes': ['default']},
        {'name': 'per-client', 'key': 'client', 'tier': True, 'algorithm': 'fixed_window',
         'routes': ['tiered']},
    ],
}


def identity(jwks_path, required=False):
    return {'identity': {
        'jwt': {'jwks_file': jwks_path, 'issuers': [ISSUER], 'audiences': ['api'],
                'required': required},
        'tier': {'claim': 'plan'},
        'user': {'claim': 'sub'},
    }}


class JwtIdentity(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.rsa_path = os.path.join(self.workdir, 'rsa-1')
        self.jwks = os.path.join(self.workdir, 'jwks.json')
        write_jwks(self.jwks, [hmac_jwk(), make_rsa_key(self.rsa_path)])

    def jwks_bytes(self):
        with open(self.jwks, 'rb') as f:
            return f.read()

    def test_claims_key_limits_and_name_the_tier_and_user(self):
        gw = self.start_sluice(identity(self.jwks), POLICY)
        ann = token(claims(sub='ann', org_id='acme'))
        bob = token(claims(sub='bob', org_id='acme'), alg='RS256', kid='rsa-1',
                    rsa_key=self.rsa_path)
        other = token(claims(sub='cy', org_id='globex'))
        statuses = [request(gw.port, 'GET', '/x', headers=bearer(t)).status
                    for t in (ann, bob, ann, bob, other)]
        # acme's three (two users, HS256 and RS256) fill per-org; globex has its own.
        self.assertEqual(statuses, [200, 200, 200, 429, 200])
        denied = request(gw.port, 'GET', '/x', headers=bearer(ann))
        self.assertEqual(denied.header('X-RateLimit-Scope'), 'per-org')
        # No token: anonymous, and per-org (keyed by a claim) does not apply.
        self.assertEqual([request(gw.port, 'GET', '/x').status for _ in range(5)], [200] * 5)

        # The tier from `plan`, the user (so the `client` key) from `sub`.
        pro = token(claims(sub='dee', plan='pro'))
        r = request(gw.port, 'GET', '/tiered/a', headers=bearer(pro))
        self.assertEqual((r.status, r.header('X-RateLimit-Limit')), (200, '5'))
        free = token(claims(sub='eve'))
        r = request(gw.port, 'GET', '/tiered/a', headers=bearer(free))
        self.assertEqual((r.status, r.header('X-RateLimit-Limit')), (200, '2'))
        peek = request(gw.admin_port, 'GET', '/admin/limits/per-client/user:dee?tier=pro').json()
        self.assertEqual(peek['remaining'], 4)

    def test_refused_tokens_get_401_with_a_reason_and_reach_nothing(self):
        gw = self.start_sluice(identity(self.jwks), POLICY)
        now = int(time.time())
        header, payload, signature = token(claims(org_id='acme')).split('.')
        flipped = signature[:5] + ('A' if signature[5] != 'A' else 'B') + signature[6:]
        cases = [
            ('expired', token(claims(exp=now - 120)), 'expired'),
            ('bad signature', '.'.join((header, payload, flipped)), 'bad_signature'),
            ('alg none', token(claims(), alg='none'), 'unsupported_algorithm'),
            ('alg none, empty signature', token(claims(), alg='none').rsplit('.', 1)[0] + '.',
             'malformed'),
            ('audience', token(claims(aud='other')), 'wrong_audience'),
            ('issuer', token(claims(iss='https://evil.test/')), 'wrong_issuer'),
            ('unknown kid', token(claims(), kid='nope'), 'unknown_key'),
            ('not a JWT', 'abc.def', 'malformed'),
            # Algorithm confusion: HS256 naming the RSA key, its public JWKS as the secret.
            # The RSA key is never an HMAC key: no key fits the token.
            ('HMAC with the RSA key as secret',
             token(claims(), kid='rsa-1', secret=self.jwks_bytes()), 'unknown_key'),
        ]
        for what, t, reason in cases:
            r = request(gw.port, 'GET', '/x', headers=bearer(t))
            self.assertEqual(r.status, 401, what)
            error = r.json()['error']
            self.assertEqual(error['code'], 'unauthorized', what)
            self.assertTrue(error['message'], what)
            self.assertEqual(r.header('WWW-Authenticate'), 'Bearer error="invalid_token"', what)
        self.assertEqual(self.upstream.count, 0)
        m = gw.metrics()
        reasons = {}
        for _, _, reason in cases:
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, n in reasons.items():
            self.assertEqual(m.value('gateway_jwt_rejected_total', reason=reason), n, reason)
        self.assertEqual(m.value('gateway_http_errors_total', code='401'), len(cases))
        # A `limits: off` route needs no token, even a bad one is not read there.
        self.assertEqual(request(gw.port, 'GET', '/healthz', headers=bearer('x.y.z')).status, 200)

    def test_required_tokens_and_key_rotation_by_reload(self):
        gw = self.start_sluice(identity(self.jwks, required=True), POLICY)
        r = request(gw.port, 'GET', '/x')
        self.assertEqual((r.status, r.header('WWW-Authenticate')), (401, 'Bearer'))
        self.assertEqual(r.json()['error']['message'], 'Missing bearer token')
        self.assertEqual(gw.metrics().value('gateway_jwt_rejected_total', reason='missing'), 1)
        old = token(claims(org_id='a'))
        self.assertEqual(request(gw.port, 'GET', '/x', headers=bearer(old)).status, 200)

        # Rotate: the JWKS now holds only hmac-2. A broken file is refused first.
        with open(self.jwks, 'w') as f:
            f.write('{"keys": [{"kty": "oct", "kid": "hmac-2", "k": "c2hvcnQ"}]}')
        self.assertFalse(gw.reload())
        self.assertEqual(request(gw.port, 'GET', '/x', headers=bearer(old)).status, 200)
        new_secret = b'another secret of at least 32 bytes!'
        write_jwks(self.jwks, [hmac_jwk('hmac-2', new_secret)])
        self.assertTrue(gw.reload())
        r = request(gw.port, 'GET', '/x', headers=bearer(old))
        self.assertEqual(r.status, 401)
        fresh = token(claims(org_id='a'), kid='hmac-2', secret=new_secret)
        self.assertEqual(request(gw.port, 'GET', '/x', headers=bearer(fresh)).status, 200)
        # /admin/config names the key set's file, never its keys.
        identity_config = admin_get(gw.admin_port, '/admin/config').json()['server']['identity']
        self.assertEqual(identity_config['jwt'], {
            'header': 'authorization', 'jwks_file': self.jwks, 'issuers': [ISSUER],
            'audiences': ['api'], 'required': True, 'leeway': '30s'})
        self.assertEqual((identity_config['tier']['claim'], identity_config['user']['claim']),
                         ('plan', 'sub'))

    def test_tenant_rate_from_a_claim_or_a_trusted_header_up_to_max(self):
        policy = {'limits': [
            {'name': 'org-quota', 'key': 'jwt:org_id', 'algorithm': 'fixed_window',
             'rate': '2/min', 'tenant_rate': {'claim': 'rpm', 'max': 4}},
            {'name': 'proxied', 'key': 'header:X-Org', 'algorithm': 'fixed_window',
             'rate': '1/min', 'tenant_rate': {'header': 'X-Org-RPM', 'max': 3}},
        ]}
        overrides = identity(self.jwks)
        overrides['identity']['trusted_proxies'] = ['127.0.0.1/32']
        gw = self.start_sluice(overrides, policy)

        def admitted(t):
            statuses = [request(gw.port, 'GET', '/x', headers=bearer(t)).status
                        for _ in range(6)]
            return statuses.count(200)
        self.assertEqual(admitted(token(claims(org_id='a', rpm=3))), 3)
        self.assertEqual(admitted(token(claims(org_id='b', rpm=100))), 4)  # at most max
        self.assertEqual(admitted(token(claims(org_id='c'))), 2)  # the limit's own rate
        r = request(gw.port, 'GET', '/x', headers=bearer(token(claims(org_id='a', rpm=3))))
        self.assertEqual((r.status, r.header('X-RateLimit-Limit')), (429, '3'))

        # The header source: this test's client is a trusted proxy (127.0.0.1).
        statuses = [request(gw.port, 'GET', '/y', headers={'X-Org': 'd', 'X-Org-RPM': '3'}).status
                    for _ in range(5)]
        self.assertEqual(statuses, [200, 200, 200, 429, 429])
        limits = admin_get(gw.admin_port, '/admin/config').json()['policy']['limits']
        self.assertEqual([l['tenant_rate'] for l in limits],
                         [{'claim': 'rpm', 'max': 4}, {'header': 'x-org-rpm', 'max': 3}])

    def test_tenant_rate_from_runtime_entries_of_the_admin_api(self):
        policy = {'limits': [
            {'name': 'org-quota', 'key': 'jwt:org_id', 'algorithm': 'fixed_window',
             'rate': '2/min', 'tenant_rate': {'claim': 'rpm', 'max': 5}},
            {'name': 'per-ip', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '1/min',
             'tenant_rate': {'max': 1000}, 'routes': ['ip']},
        ], 'routes': [{'name': 'ip', 'match': '/ip/**'}]}
        gw = self.start_sluice(identity(self.jwks), policy)
        # The key text, as the admin API's peek names it: here the claim's value.
        put = request(gw.admin_port, 'PUT', '/admin/tenants/org-quota/a', body=b'{"rate": 50}')
        self.assertEqual(put.status, 200, put.text)
        self.assertEqual(put.json(), {'limit': 'org-quota', 'key': 'a', 'rate': 50, 'applied': 5})

        def admitted(t, path='/x'):
            headers = bearer(t) if t is not None else None
            return [request(gw.port, 'GET', path, headers=headers).status
                    for _ in range(8)].count(200)
        # The entry wins over the claim (rpm 3), bounded by max.
        self.assertEqual(admitted(token(claims(org_id='a', rpm=3))), 5)
        self.assertEqual(admitted(token(claims(org_id='b', rpm=3))), 3)
        # A limit that takes numbers from entries only.
        self.assertEqual(request(gw.admin_port, 'PUT', '/admin/tenants/per-ip/127.0.0.1',
                                 body=b'{"rate": 4}').status, 200)
        self.assertEqual(admitted(None, '/ip/x'), 4)
        listed = admin_get(gw.admin_port, '/admin/tenants').json()['tenants']
        self.assertEqual(sorted((t['limit'], t['key'], t['rate']) for t in listed),
                         [('org-quota', 'a', 50), ('per-ip', '127.0.0.1', 4)])
        self.assertEqual(request(gw.admin_port, 'DELETE', '/admin/tenants/per-ip/127.0.0.1').status,
                         200)
        self.assertEqual(admin_get(gw.admin_port, '/admin/tenants').json()['tenants'][0]['key'],
                         'a')
        for bad in (b'{"rate": 0}', b'{"rate": "9"}', b'[]', b'{"rate": 1.5}'):
            self.assertEqual(request(gw.admin_port, 'PUT', '/admin/tenants/per-ip/x',
                                     body=bad).status, 400, bad)
        no_tenants = request(gw.admin_port, 'PUT', '/admin/tenants/nope/x', body=b'{"rate": 1}')
        self.assertEqual(no_tenants.status, 404)

    def test_two_authorization_headers_are_a_400(self):
        gw = self.start_sluice(identity(self.jwks), POLICY)
        t = token(claims(org_id='acme'))
        conn = self.raw()
        conn.send('GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                  'Authorization: Bearer %s\r\n\r\n' % (t, t))
        self.assertEqual(conn.read_response().status, 400)
        self.assertEqual(self.upstream.count, 0)


class JwtIdentityRedis(RedisCase):
    def test_two_gateways_share_a_per_org_limit(self):
        jwks = os.path.join(self.workdir, 'jwks.json')
        write_jwks(jwks, [hmac_jwk()])
        redis = self.start_redis()
        overrides = identity(jwks)
        overrides['storage'] = {'redis': {'timeout': '2s'}}
        gateways = [self.start_gateway(redis, POLICY, overrides=overrides) for _ in range(2)]
        t = token(claims(sub='ann', org_id='acme'))
        statuses = [request(gateways[i % 2].port, 'GET', '/x', headers=bearer(t)).status
                    for i in range(5)]
        self.assertEqual(statuses, [200, 200, 200, 429, 429])
        self.assertEqual(request(gateways[0].port, 'GET', '/x',
                                 headers=bearer(token(claims(org_id='globex')))).status, 200)

    def test_a_tenant_number_set_on_one_gateway_applies_on_every_gateway(self):
        redis = self.start_redis()
        policy = {'limits': [{'name': 'per-ip', 'key': 'ip', 'algorithm': 'fixed_window',
                              'rate': '1/min', 'tenant_rate': {'max': 100}}]}
        gateways = [self.start_gateway(redis, policy, overrides={'storage': {'redis': {
            'timeout': '2s'}}}) for _ in range(2)]
        self.assertEqual(request(gateways[0].admin_port, 'PUT', '/admin/tenants/per-ip/127.0.0.1',
                                 body=b'{"rate": 6}').status, 200)
        self.assertEqual(redis_call(redis.port, 'HGET', 'sluice:overrides:tenants',
                                    'per-ip|127.0.0.1'), '6')
        # The other gateway pulls the entries about once a second.
        wait_for(lambda: admin_get(gateways[1].admin_port, '/admin/tenants').json()['tenants'],
                 message='the entry on the second gateway')
        statuses = [request(gateways[i % 2].port, 'GET', '/x').status for i in range(8)]
        self.assertEqual(statuses.count(200), 6)


if __name__ == '__main__':
    unittest.main()
