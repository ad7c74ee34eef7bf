"""Alternate spellings of a limited route (issue 8 item 10): with POST /auth/login limited
and /static/** limits: off, every spelling of the login path is either a 400 that reaches
no upstream, or limited by the login limit; the upstream receives the target as sent."""

import unittest

from harness import GatewayTestCase, admin_get

MESSAGES = {
    'slash': 'Encoded slash in path',
    'space': 'Space at the start or end of a path segment',
    'control': 'Control character in path',
    'backslash': 'Backslash in path',
    'fragment': 'Fragment (#) in request target',
    'semicolon': 'Encoded semicolon in path',
    'dot_params': "Parameters (;) on a dot segment or before '..'",
}

# The spellings: what each gets with `routing: {case_insensitive: true}` (matrix
# parameters are stripped by default, encoded slashes rejected by default).
SPELLINGS = [
    ('/auth/login;jsessionid=1', 'limited'),
    ('/auth;x/login', 'limited'),
    ('/AUTH/LOGIN', 'limited'),
    ('/auth/login%2f', 'slash'),
    ('/auth%2flogin', 'slash'),
    ('/static/..%2fauth/login', 'slash'),
    ('/auth/login%20', 'space'),
    ('/auth/login%00', 'control'),
    ('/auth/login\\', 'backslash'),
    ('/auth\\login', 'backslash'),
    ('/auth/login#frag', 'fragment'),
    # Not in the list, same families.
    ('/static/%2e%2e/auth/login', 'limited'),
    ('/auth/login%5c', 'backslash'),
    ('/auth/login?next=%2F#x', 'fragment'),
    # Found by path_route_fuzz: an upstream that cuts ";params" (decoding %3B first for
    # the third) reads /auth/login, while Sluice without stripping read a static file.
    ('/static/..;/auth/login', 'dot_params'),
    ('/static/;x/../auth/login', 'dot_params'),
    ('/static/%3Bx/../auth/login', 'semicolon'),
    ('/auth/login%3bjsessionid=1', 'semicolon'),
]


def login_policy(routing=None):
    """POST /auth/login at 1/min per client and case (X-Case keeps the spellings apart,
    so each one shows its own first and second request); /static/** limits: off."""
    policy = {
        'routes': [{'name': 'login', 'match': 'POST /auth/login'},
                   {'name': 'static', 'match': '/static/**', 'limits': 'off'}],
        'limits': [{'name': 'login', 'key': ['ip', 'header:X-Case'], 'routes': ['login'],
                    'algorithm': 'fixed_window', 'rate': '1/min'}],
    }
    if routing is not None:
        policy['routing'] = routing
    return policy


class PathSpellings(GatewayTestCase):
    def post(self, target, case):
        """One POST with the exact target bytes, on its own connection."""
        conn = self.raw(timeout=5)
        conn.send('POST %s HTTP/1.1\r\nHost: x\r\nX-Case: %s\r\nContent-Length: 0\r\n\r\n'
                  % (target, case))
        return conn.read_response()

    def check(self, target, expected, case):
        seen = self.upstream.count
        first = self.post(target, case)
        if expected == 'limited':
            self.assertEqual(first.status, 200, target)
            self.assertEqual(self.upstream.last().target, target)  # not rewritten
            second = self.post(target, case)
            self.assertEqual(second.status, 429, target)
            self.assertEqual(second.json()['error']['code'], 'rate_limit_exceeded')
            self.assertEqual(self.upstream.count, seen + 1, target)
        else:
            self.assertErrorBody(first, 400, 'bad_request')
            self.assertEqual(first.json()['error']['message'], MESSAGES[expected], target)
            self.assertEqual(self.upstream.count, seen, target)  # the upstream saw nothing

    def test_each_spelling_is_rejected_or_limited_by_the_login_limit(self):
        self.start_sluice({}, login_policy({'case_insensitive': True}))
        for i, (target, expected) in enumerate(SPELLINGS):
            with self.subTest(target=target):
                self.check(target, expected, 'c%d' % i)
        limited = sum(1 for _, expected in SPELLINGS if expected == 'limited')
        self.assertEqual(self.metrics().total('rate_limit_requests_blocked_total',
                                              reason='login'), limited)

    def test_allow_encoded_slash_matches_it_as_a_separator(self):
        self.start_sluice({}, login_policy({'allow_encoded_slash': True}))
        for i, target in enumerate(['/auth/login%2f', '/auth%2flogin', '/static/..%2fauth/login',
                                    '/static%2F..%2Fauth%2Flogin']):
            with self.subTest(target=target):
                self.check(target, 'limited', 's%d' % i)
        # A file below /static with an encoded slash stays on the limits: off route.
        self.assertEqual(self.post('/static/a%2Fb.css', 'f').status, 200)
        self.assertEqual(self.post('/static/a%2Fb.css', 'f').status, 200)

    def test_defaults_keep_case_so_upper_case_is_another_path(self):
        # No `routing:` block: case-sensitive, as most upstreams are (for them
        # /AUTH/LOGIN is not the login handler); matrix parameters are still stripped.
        self.start_sluice({}, login_policy())
        for case in ('a', 'a'):
            self.assertEqual(self.post('/AUTH/LOGIN', case).status, 200)
        self.check('/auth/login;jsessionid=1', 'limited', 'b')
        self.check('/auth/login%2f', 'slash', 'c')

    def test_without_stripping_parameters_never_move_a_dot_segment(self):
        # strip_matrix_params: false, as in front of an upstream that keeps ';' as data:
        # the fuzzer's spellings are still a 400 the upstream never sees; ordinary
        # parameters still pass, as written.
        self.start_sluice({}, login_policy({'strip_matrix_params': False}))
        for i, (target, expected) in enumerate([
                ('/static/..;/auth/login', 'dot_params'),
                ('/static/..;x=1/auth/login', 'dot_params'),
                ('/static/;x/../auth/login', 'dot_params'),
                ('/static/%3Bx/../auth/login', 'semicolon'),
                ('/static/%3bx/../auth/login', 'semicolon')]):
            with self.subTest(target=target):
                self.check(target, expected, 'n%d' % i)
        for target in ('/static/app.css;v=2', '/static/;jsessionid=1', '/static/x;v=2/../a.css'):
            with self.subTest(target=target):
                for _ in range(2):  # limits: off: never a 429
                    self.assertEqual(self.post(target, 'static').status, 200)
                    self.assertEqual(self.upstream.last().target, target)
        # Another path (route `default`) without stripping: not limited by the login limit.
        for _ in range(2):
            self.assertEqual(self.post('/auth/login;jsessionid=1', 'p').status, 200)

    def test_admin_config_shows_the_routing_options(self):
        self.start_sluice({}, login_policy({'case_insensitive': True}))
        routing = admin_get(self.sluice.admin_port, '/admin/config').json()['policy']['routing']
        self.assertEqual(routing, {'case_insensitive': True, 'strip_matrix_params': True,
                                   'allow_encoded_slash': False})


if __name__ == '__main__':
    unittest.main()
