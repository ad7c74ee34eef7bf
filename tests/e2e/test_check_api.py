"""Rate limiting as a service (SPEC 9): POST /api/ratelimit/check on the admin
listener. The answer's exact shape (200 and 429), the token (Bearer header or "apiKey"
in the body), admin.allow, the 400s, the default limit (admin.check_limit, else the
first), and state shared with proxied traffic under the same limit."""

import json
import unittest

from harness import GatewayTestCase, port_accepts, request, wait_for

TOKEN = 'check-token-s3cr3t'
PATH = '/api/ratelimit/check'
ALLOWED_FIELDS = {'allowed', 'key', 'tokensRequested', 'remaining', 'limit', 'resetSeconds'}

POLICY = {
    'tiers': {'free': {'rate': '1/1h', 'burst': 4}, 'pro': {'rate': '1/1h', 'burst': 40}},
    'clients': {'default_tier': 'free'},
    'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 3},
        {'name': 'per-user', 'key': 'user', 'algorithm': 'fixed_window', 'rate': '10/1h'},
        {'name': 'per-client', 'key': 'client', 'tier': True},
    ],
}


class CheckTestCase(GatewayTestCase):
    def start(self, admin=None, **config):
        admin_config = {'token': TOKEN}
        admin_config.update(admin or {})
        config['admin'] = admin_config
        self.start_sluice(config, POLICY, wait=admin_config.get('allow') is None)

    def check(self, body, token=TOKEN, headers=None):
        headers = dict(headers or {})
        if token is not None:
            headers['Authorization'] = 'Bearer ' + token
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return request(self.sluice.admin_port, 'POST', PATH, body,
                       dict(headers, **{'Content-Type': 'application/json'}))


class Answers(CheckTestCase):
    def test_allowed_has_exactly_the_documented_fields(self):
        self.start()
        r = self.check({'key': 'user:123', 'tokens': 1, 'limit': 'per-ip'})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header('Content-Type'), 'application/json')
        body = r.json()
        self.assertEqual(set(body), ALLOWED_FIELDS)
        self.assertEqual(body, {'allowed': True, 'key': 'user:123', 'tokensRequested': 1,
                                'remaining': 2, 'limit': 3, 'resetSeconds': 3600})
        body = self.check({'key': 'user:123', 'tokens': 2, 'limit': 'per-ip'}).json()
        self.assertEqual((body['allowed'], body['remaining'], body['tokensRequested']),
                         (True, 0, 2))

    def test_denied_is_429_with_retry_after(self):
        self.start()
        self.assertEqual(self.check({'key': 'k', 'tokens': 3}).status, 200)
        r = self.check({'key': 'k', 'tokens': 1})
        self.assertEqual(r.status, 429, r)
        body = r.json()
        self.assertEqual(set(body), ALLOWED_FIELDS | {'retryAfterSeconds'})
        self.assertEqual(body['allowed'], False)
        self.assertEqual((body['key'], body['tokensRequested'], body['remaining'], body['limit']),
                         ('k', 1, 0, 3))
        self.assertEqual(body['retryAfterSeconds'], 3600)  # one token at 1/1h
        # A denied check charges nothing: a smaller request still fails the same way,
        # and the peek agrees.
        peek = request(self.sluice.admin_port, 'GET', '/admin/limits/per-ip/k').json()
        self.assertEqual(peek['remaining'], 0)

    def test_more_tokens_than_the_limit_holds_is_429(self):
        self.start()
        r = self.check({'key': 'big', 'tokens': 4})
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()['allowed'], False)
        self.assertGreaterEqual(r.json()['retryAfterSeconds'], 1)
        # Nothing was charged.
        self.assertEqual(self.check({'key': 'big', 'tokens': 3}).status, 200)

    def test_tokens_default_to_one(self):
        self.start()
        body = self.check({'key': 'one'}).json()
        self.assertEqual((body['tokensRequested'], body['remaining']), (1, 2))

    def test_window_limit_and_tier(self):
        self.start()
        body = self.check({'key': 'alice', 'limit': 'per-user', 'tokens': 4}).json()
        self.assertEqual((body['limit'], body['remaining']), (10, 6))
        self.assertLessEqual(body['resetSeconds'], 3600)
        body = self.check({'key': 'user:bob', 'limit': 'per-client'}).json()
        self.assertEqual(body['limit'], 4)  # the default tier
        body = self.check({'key': 'user:carol', 'limit': 'per-client', 'tier': 'pro'}).json()
        self.assertEqual(body['limit'], 40)


class DefaultLimit(CheckTestCase):
    def test_first_limit_without_check_limit(self):
        self.start()
        self.assertEqual(self.check({'key': 'x'}).json()['limit'], 3)  # per-ip

    def test_check_limit_names_the_default(self):
        self.start(admin={'check_limit': 'per-user'})
        self.assertEqual(self.check({'key': 'x'}).json()['limit'], 10)
        self.assertEqual(self.check({'key': 'x', 'limit': 'per-ip'}).json()['limit'], 3)

    def test_unknown_check_limit_is_a_config_error(self):
        self.start()
        self.sluice.write_config(config=dict(self.sluice.config,
                                             admin={'token': TOKEN, 'check_limit': 'nope'}))
        self.assertFalse(self.sluice.reload())
        self.assertRegex(self.sluice.stderr(), r'config\.yaml:\d+:\d+: admin\.check_limit')


class SharedState(CheckTestCase):
    def test_check_and_proxied_traffic_share_the_bucket(self):
        # Proxied clients come through a trusted proxy as 192.0.2.1, the check API names
        # the same key under per-ip.
        self.start(identity={'trusted_proxies': ['127.0.0.1/32']})
        client = self.client()
        as_client = {'X-Forwarded-For': '192.0.2.1'}
        r = client.get('/x', headers=as_client)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '2')

        body = self.check({'key': '192.0.2.1', 'limit': 'per-ip'}).json()
        self.assertEqual(body['remaining'], 1)  # the proxied request was charged here
        r = client.get('/x', headers=as_client)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '0')  # and the check there
        r = client.get('/x', headers=as_client)
        self.assertEqual(r.status, 429)
        self.assertEqual(self.check({'key': '192.0.2.1', 'limit': 'per-ip'}).status, 429)
        # Other keys are untouched.
        self.assertEqual(self.check({'key': '192.0.2.2', 'limit': 'per-ip'}).status, 200)


class Authorization(CheckTestCase):
    def test_token_required(self):
        self.start()
        for token, headers in [(None, {}), ('wrong', {}), (None, {'Authorization': TOKEN}),
                               (None, {'X-API-Key': TOKEN})]:
            with self.subTest(token=token, headers=headers):
                r = self.check({'key': 'k'}, token=token, headers=headers)
                self.assertErrorBody(r, 401, 'unauthorized')
        # Refused checks charged nothing.
        self.assertEqual(self.check({'key': 'k'}).json()['remaining'], 2)

    def test_api_key_in_the_body(self):
        self.start()
        r = self.check({'key': 'k', 'apiKey': TOKEN}, token=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json()), ALLOWED_FIELDS)
        r = self.check({'key': 'k', 'apiKey': TOKEN}, token='wrong')  # either may be right
        self.assertEqual(r.status, 200, r)
        for api_key in ['wrong', TOKEN.upper(), '', 5, None, [TOKEN]]:
            with self.subTest(api_key=api_key):
                r = self.check({'key': 'k', 'apiKey': api_key}, token=None)
                self.assertErrorBody(r, 401, 'unauthorized')

    def test_without_a_token_configured_no_token_is_needed(self):
        self.start(admin={'token': ''})
        self.assertEqual(self.check({'key': 'k'}, token=None).status, 200)

    def test_peer_outside_admin_allow_gets_403(self):
        self.start(admin={'allow': ['10.0.0.0/8']})
        wait_for(lambda: port_accepts(self.sluice.admin_port), message='the admin listener')
        for token in (TOKEN, None):
            with self.subTest(token=token):
                self.assertErrorBody(self.check({'key': 'k', 'apiKey': TOKEN}, token=token),
                                     403, 'forbidden')
        self.assertErrorBody(self.check('not json'), 403, 'forbidden')


class BadRequests(CheckTestCase):
    def test_malformed_json(self):
        self.start()
        for body in ['', 'not json', '{"key": "k"', '[]', '"k"', '5', 'null',
                     '{"key": "k"} trailing']:
            with self.subTest(body=body):
                self.assertErrorBody(self.check(body), 400, 'bad_request')

    def test_bad_key(self):
        self.start()
        for body in [{}, {'key': ''}, {'key': 5}, {'key': None}, {'key': ['k']},
                     {'tokens': 1, 'limit': 'per-ip'}]:
            with self.subTest(body=body):
                self.assertErrorBody(self.check(body), 400, 'bad_request', 'key')

    def test_tokens_must_be_a_positive_integer(self):
        self.start()
        for tokens in [0, -1, 1.5, 2.0, '1', True, None, [1], 10 ** 12, 2 ** 64]:
            with self.subTest(tokens=tokens):
                r = self.check({'key': 'k', 'tokens': tokens})
                self.assertErrorBody(r, 400, 'bad_request', 'tokens')
        self.assertEqual(self.check({'key': 'k'}).json()['remaining'], 2)

    def test_unknown_limit_or_tier(self):
        self.start()
        self.assertErrorBody(self.check({'key': 'k', 'limit': 'nope'}), 400, 'bad_request',
                             "'nope'")
        self.assertErrorBody(self.check({'key': 'k', 'limit': 5}), 400, 'bad_request', 'limit')
        self.assertErrorBody(self.check({'key': 'k', 'limit': 'per-client', 'tier': 'gold'}),
                             400, 'bad_request', 'gold')
        self.assertErrorBody(self.check({'key': 'k', 'limit': 'per-client', 'tier': 1}),
                             400, 'bad_request', 'tier')

    def test_wrong_method(self):
        self.start()
        r = request(self.sluice.admin_port, 'GET', PATH)
        self.assertErrorBody(r, 405, 'method_not_allowed')
        self.assertEqual(r.header('Allow'), 'POST')


if __name__ == '__main__':
    unittest.main()
