"""Client identity (SPEC 4 steps 1-3): the client address through trusted proxies
(X-Forwarded-For, Forwarded, X-Real-IP), API keys and users as limit keys, the user
header believed only from trusted proxies (unless identity.user.trusted_only is false),
and a duplicated identity answered with 400 before anything reaches the upstream. The
resolved address is read from the access log and from which bucket gets charged."""

import unittest

from harness import GatewayTestCase, wait_for

ONE_PER_IP = {'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 1}]}


class IdentityTestCase(GatewayTestCase):
    def client_ips(self, header_sets):
        """Sends one request per header dict; returns the client_ip the gateway logged
        for each, in order."""
        for i, headers in enumerate(header_sets):
            self.get('/who/%d' % i, headers)
        # Lines are written after the response, so requests on different
        # connections may be logged out of order: match them by path.
        log = self.sluice.access_log(wait_for_lines=len(header_sets))
        by_path = {entry['path']: entry['client_ip'] for entry in log}
        return [by_path['/who/%d' % i] for i in range(len(header_sets))]

    def logged_client_ip(self, path):
        """The client_ip of the access-log line for `path` (only this test's request has
        it: a stray connection from an earlier test's processes to a reused port must not
        be taken for it)."""
        entries = wait_for(lambda: [e for e in self.sluice.access_log() if e['path'] == path],
                           message='the access-log line of ' + path)
        return entries[0]['client_ip']

    def statuses(self, header_sets):
        return [self.get('/who', headers).status for headers in header_sets]


class UntrustedPeer(IdentityTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({}, ONE_PER_IP)

    def test_spoofed_forwarding_headers_are_ignored(self):
        ips = self.client_ips([{'X-Forwarded-For': '198.51.100.1'},
                               {'X-Real-IP': '198.51.100.2'},
                               {'Forwarded': 'for=198.51.100.3'}])
        self.assertEqual(ips, ['127.0.0.1'] * 3)

    def test_spoofed_client_is_limited_by_its_real_address(self):
        self.assertEqual(self.statuses([{'X-Forwarded-For': '198.51.100.%d' % i}
                                        for i in range(1, 4)]), [200, 429, 429])


class TrustedXForwardedFor(IdentityTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32', '10.0.0.0/8']}},
                          ONE_PER_IP)

    def test_rightmost_untrusted_entry_is_the_client(self):
        cases = [
            ({'X-Forwarded-For': '198.51.100.7'}, '198.51.100.7'),
            ({'X-Forwarded-For': '198.51.100.8, 10.1.2.3'}, '198.51.100.8'),
            ({'X-Forwarded-For': '6.6.6.6, 198.51.100.9'}, '198.51.100.9'),  # left is spoofable
            ({'X-Forwarded-For': '198.51.100.10:5555'}, '198.51.100.10'),
            ({'X-Forwarded-For': '10.0.0.1, 10.0.0.2'}, '10.0.0.1'),  # all trusted: leftmost
            ({'X-Forwarded-For': '198.51.100.11, garbage'}, '127.0.0.1'),  # walk ends
            ({}, '127.0.0.1'),
        ]
        self.assertEqual(self.client_ips([h for h, _ in cases]), [ip for _, ip in cases])

    def test_every_header_line_is_joined_in_order(self):
        self.exchange('GET /who/joined HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n'
                      'X-Forwarded-For: 198.51.100.12, 10.0.0.1\r\n\r\n')
        self.assertEqual(self.logged_client_ip('/who/joined'), '198.51.100.12')

    def test_headers_between_the_lines_are_not_entries(self):
        self.exchange('GET /who/between HTTP/1.1\r\nX-Forwarded-For: 198.51.100.13\r\n'
                      'X-Spoof: 6.6.6.6\r\nX-Forwarded-For: 10.0.0.1\r\nHost: x\r\n\r\n')
        self.assertEqual(self.logged_client_ip('/who/between'), '198.51.100.13')

    def test_each_resolved_client_has_its_own_bucket(self):
        a = {'X-Forwarded-For': '198.51.100.20'}
        b = {'X-Forwarded-For': '198.51.100.21, 10.9.9.9'}
        self.assertEqual(self.statuses([a, a, b, b]), [200, 429, 200, 429])

    def test_deny_list_applies_to_the_resolved_client(self):
        self.sluice.write_config(policy={
            'access': {'deny': {'ips': ['203.0.113.0/24']}},
            'limits': ONE_PER_IP['limits']})
        self.assertTrue(self.sluice.reload())
        denied = {'X-Forwarded-For': '203.0.113.5'}
        self.assertEqual(self.statuses([denied]), [403])


class UntrustedDenyList(IdentityTestCase):
    def test_a_spoofed_header_cannot_trigger_the_deny_list(self):
        self.start_sluice({}, {'access': {'deny': {'ips': ['203.0.113.0/24']}},
                               'limits': ONE_PER_IP['limits']})
        self.assertEqual(self.statuses([{'X-Forwarded-For': '203.0.113.5'}]), [200])


class TrustedForwarded(IdentityTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32'],
                                        'client_ip_header': 'forwarded', 'ipv6_prefix': 64}},
                          ONE_PER_IP)

    def test_for_parameter_is_the_client(self):
        cases = [
            ({'Forwarded': 'for=192.0.2.60;proto=http;by=203.0.113.43'}, '192.0.2.60'),
            ({'Forwarded': 'for=192.0.2.43, for=198.51.100.17'}, '198.51.100.17'),
            ({'Forwarded': 'For="198.51.100.18:8080"'}, '198.51.100.18'),
            # Quoted IPv6 with a port; IPv6 clients are grouped by /64.
            ({'Forwarded': 'for="[2001:db8:cafe::17]:4711"'}, '2001:db8:cafe::/64'),
            ({'X-Forwarded-For': '198.51.100.19'}, '127.0.0.1'),  # not the selected header
        ]
        self.assertEqual(self.client_ips([h for h, _ in cases]), [ip for _, ip in cases])

    def test_ipv6_clients_in_one_prefix_share_a_bucket(self):
        self.assertEqual(self.statuses([{'Forwarded': 'for="[2001:db8:1:2::a]"'},
                                        {'Forwarded': 'for="[2001:db8:1:2::b]"'},
                                        {'Forwarded': 'for="[2001:db8:1:3::a]"'}]),
                         [200, 429, 200])


class TrustedXRealIp(IdentityTestCase):
    def test_x_real_ip_from_a_trusted_peer(self):
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32'],
                                        'client_ip_header': 'x-real-ip'}}, ONE_PER_IP)
        ips = self.client_ips([{'X-Real-IP': '198.51.100.30'},
                               {'X-Forwarded-For': '198.51.100.31'},
                               {}])
        self.assertEqual(ips, ['198.51.100.30', '127.0.0.1', '127.0.0.1'])


class KeysAndUsers(IdentityTestCase):
    """Behind an auth proxy (127.0.0.1 trusted), which sets the user header."""
    POLICY = {
        'tiers': {'free': {'rate': '1/1h', 'burst': 1}},
        'clients': {'default_tier': 'free',
                    'api_keys': {'key-acme-0001': {'tier': 'free', 'user': 'acme'}}},
        'limits': [{'name': 'per-client', 'key': 'client', 'rate': '1/1h', 'burst': 1}],
    }

    def setUp(self):
        super().setUp()
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}}, self.POLICY)

    def test_client_key_is_user_else_api_key_else_ip(self):
        alice = {'X-User-ID': 'alice'}
        bob = {'X-User-ID': 'bob'}
        key = {'X-API-Key': 'key-one-00001'}
        self.assertEqual(self.statuses([alice, alice, bob, key, key, {}, {}]),
                         [200, 429, 200, 200, 429, 200, 429])

    def test_an_api_key_that_names_a_user_counts_as_that_user(self):
        self.assertEqual(self.statuses([{'X-API-Key': 'key-acme-0001'},
                                        {'X-User-ID': 'acme'}]), [200, 429])

    def test_query_parameter_key_is_percent_decoded(self):
        self.assertEqual(self.get('/who?api_key=key%2Done-00002').status, 200)
        self.assertEqual(self.get('/who', {'X-API-Key': 'key-one-00002'}).status, 429)


PER_CLIENT = {'limits': [{'name': 'per-client', 'key': 'client', 'rate': '1/1h', 'burst': 1}]}
VIP_ALLOWED = {'access': {'allow': {'users': ['vip']}},
               'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 1}]}
ANY_PEER_NOTICE = ('identity.user.trusted_only is false: the X-User-ID header is believed '
                   'from every client')


class UserHeaderFromAnUntrustedPeer(IdentityTestCase):
    """Default config: 127.0.0.1 is not a trusted proxy, so X-User-ID is not believed."""

    def test_rotating_the_user_header_does_not_escape_a_per_client_limit(self):
        self.start_sluice({}, PER_CLIENT)
        self.assertEqual(self.statuses([{'X-User-ID': 'rotating-%d' % i} for i in range(4)]),
                         [200, 429, 429, 429])
        self.assertEqual(self.upstream.count, 1)
        self.assertNotIn('trusted_only', self.sluice.stderr())

    def test_claiming_an_allow_listed_user_skips_no_limit(self):
        self.start_sluice({}, VIP_ALLOWED)
        responses = [self.get('/who', {'X-User-ID': 'vip'}) for _ in range(3)]
        self.assertEqual([r.status for r in responses], [200, 429, 429])
        self.assertEqual(responses[0].header('X-RateLimit-Limit'), '1')  # limited, not bypassed


class UserHeaderFromATrustedProxy(IdentityTestCase):
    def test_each_user_has_its_own_bucket_and_allow_listed_users_skip_limits(self):
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}}, PER_CLIENT)
        self.assertEqual(self.statuses([{'X-User-ID': 'u1'}, {'X-User-ID': 'u1'},
                                        {'X-User-ID': 'u2'}, {}, {}]),
                         [200, 429, 200, 200, 429])
        self.sluice.write_config(policy=VIP_ALLOWED)
        self.assertTrue(self.sluice.reload())
        for _ in range(3):
            response = self.get('/who', {'X-User-ID': 'vip'})
            self.assertEqual(response.status, 200)
            self.assertFalse(response.has_header('X-RateLimit-Limit'))


class UserHeaderFromAnyPeer(IdentityTestCase):
    def test_trusted_only_false_believes_every_client_and_says_so_at_startup(self):
        self.start_sluice({'identity': {'user': {'header': 'X-User-ID', 'trusted_only': False}}},
                          PER_CLIENT)
        self.assertEqual(self.statuses([{'X-User-ID': 'u1'}, {'X-User-ID': 'u1'},
                                        {'X-User-ID': 'u2'}]),
                         [200, 429, 200])
        notices = [line for line in self.sluice.stderr().splitlines() if 'trusted_only' in line]
        self.assertEqual(len(notices), 1, self.sluice.stderr())
        self.assertIn(ANY_PEER_NOTICE, notices[0])


class DuplicateIdentities(IdentityTestCase):
    """Two copies of one identity: Sluice might read one and the upstream the other,
    so the request is a 400 that reaches nobody and charges nothing."""

    def setUp(self):
        super().setUp()
        self.start_sluice({}, ONE_PER_IP)

    def assertRejected(self, raw_request, message):
        conn, response = self.exchange(raw_request)
        self.assertEqual(response.status, 400, response)
        self.assertEqual(response.header('Content-Type'), 'application/json')
        self.assertEqual(response.body.decode(),
                         '{"error":{"code":"bad_request","message":"%s"}}' % message)
        return conn

    def test_duplicates_are_400_and_reach_no_upstream(self):
        cases = [
            ('GET /x HTTP/1.1\r\nHost: x\r\nX-API-Key: a\r\nX-API-Key: b\r\n\r\n',
             'Duplicate API key header'),
            ('GET /x HTTP/1.1\r\nHost: x\r\nX-API-Key: a\r\nx-api-key: a\r\n\r\n',
             'Duplicate API key header'),
            # Other fields between the lines, before and after them in name order.
            ('GET /x HTTP/1.1\r\nX-API-Key: a\r\nHost: x\r\nX-B: 1\r\nA: 2\r\n'
             'X-Api-Key: a\r\n\r\n', 'Duplicate API key header'),
            ('GET /x?api_key=a&api_key=b HTTP/1.1\r\nHost: x\r\n\r\n',
             'Duplicate API key query parameter'),
            ('GET /x?api_key=a&api%5Fkey=b HTTP/1.1\r\nHost: x\r\n\r\n',
             'Duplicate API key query parameter'),
            ('GET /x HTTP/1.1\r\nHost: x\r\nX-User-ID: alice\r\nX-User-ID: bob\r\n\r\n',
             'Duplicate user header'),
            ('GET /x HTTP/1.1\r\nX-User-ID: alice\r\nX-User-IDs: 1\r\nHost: x\r\n'
             'X-User-I: 2\r\nX-User-ID: alice\r\n\r\n', 'Duplicate user header'),
            ('GET /x?api_key=b HTTP/1.1\r\nHost: x\r\nX-API-Key: a\r\n\r\n',
             'API key header and query parameter differ'),
        ]
        for raw_request, message in cases:
            with self.subTest(request=raw_request):
                self.assertRejected(raw_request, message)
        self.assertEqual(self.upstream.count, 0)
        # None was charged: the address still has its one request.
        self.assertEqual(self.statuses([{}, {}]), [200, 429])

    def test_the_same_key_in_header_and_query_is_one_identity(self):
        _, response = self.exchange('GET /x?api_key=key%2Da HTTP/1.1\r\nHost: x\r\n'
                                        'X-API-Key: key-a\r\n\r\n')
        self.assertEqual(response.status, 200, response)
        self.assertEqual(self.upstream.count, 1)
        self.assertEqual(self.upstream.last().header('X-API-Key'), 'key-a')


if __name__ == '__main__':
    unittest.main()
