"""The live dashboard (SPEC 9) in a real headless Chromium.

One browser opens http://127.0.0.1:<admin>/dashboard before any traffic and stays on it;
the page's own JavaScript polls /admin/stats every second. The test sends known traffic
(allowed, bypassed, limited by two limits, forbidden; three clients, one with an API key),
waits until the page shows exactly those numbers, then breaks the policy file, sends
SIGHUP, and waits until the page shows the failed reload and its message. A screenshot
goes next to the binary (build/dashboard.png). Then the window shrinks to phone width
(nothing may scroll sideways) and the gateway stops (the page must say its data is stale).

Chromium is driven over the DevTools protocol on a pipe (tests/e2e/chromium.py), so the
test needs only the standard library and Debian's chromium package
(scripts/install-deps.sh installs it). Every request the page
makes is recorded by the browser: all of them must go to the admin listener.
"""

import html.parser
import json
import os
import re
import struct
import tempfile
import time
import unittest
import urllib.parse
import zlib

from chromium import Chromium, find_chromium
from harness import SLUICE_BIN, GatewayTestCase, admin_get

SVG_NAMESPACE = 'http://www.w3.org/2000/svg'
API_KEY = 'key-dashboard-7f3a9c51'


def distinct_mask(key):
    """"key-****#" and 6 hex digits of the key's FNV-1a 64 hash (util/mask.hpp)."""
    h = 14695981039346656037
    for byte in key.encode():
        h = ((h ^ byte) * 1099511628211) % 2**64
    return key[:4] + '****#%06x' % (h & 0xffffff)


MASKED_KEY = 'key:' + distinct_mask(API_KEY)  # never shown in clear
CLIENT_A = '198.51.100.7'
CLIENT_B = '198.51.100.8'
DENIED_IP = '203.0.113.9'
USER = '<b>mallory</b>'  # markup in a client name must show as text

POLICY = {
    'access': {'deny': {'ips': ['203.0.113.0/24']}},
    'routes': [
        {'name': 'ping', 'match': 'GET /ping', 'limits': 'off'},
        {'name': 'search', 'match': 'GET /search'},
    ],
    'limits': [
        {'name': 'search-per-ip', 'key': 'ip', 'routes': ['search'], 'rate': '1/1h', 'burst': 3},
        {'name': 'per-key', 'key': 'api_key', 'rate': '1/1h', 'burst': 2},
        {'name': 'per-user', 'key': 'user', 'rate': '1/1h', 'burst': 1},
    ],
}
BROKEN_POLICY = {
    'limits': [{'name': 'per-ip', 'key': 'ip', 'algorithm': 'bogus_bucket', 'rate': '5/s'}],
}

# (headers, path, expected statuses)
TRAFFIC = [
    ({'X-Forwarded-For': CLIENT_A}, '/search', [200] * 3 + [429] * 4),
    ({'X-Forwarded-For': CLIENT_B}, '/search', [200] * 3 + [429] * 1),
    ({'X-API-Key': API_KEY}, '/items', [200] * 2 + [429] * 3),
    ({'X-User-ID': USER}, '/items', [200, 429]),
    ({'X-Forwarded-For': CLIENT_A}, '/ping', [200] * 2),  # bypassed: counted as allowed
    ({'X-Forwarded-For': DENIED_IP}, '/search', [403]),
]
ALLOWED, LIMITED, FORBIDDEN = 11, 9, 1
TOP_LIMITS = [['search-per-ip', '5'], ['per-key', '3'], ['per-user', '1']]
TOP_CLIENTS = [['ip:' + CLIENT_A, '4'], [MASKED_KEY, '3'], ['ip:' + CLIENT_B, '1'],
               ['user:' + USER, '1']]

# What the test reads from the page: every field by id, and the table rows.
SNAPSHOT_JS = r'''(() => {
  const text = (id) => {
    const e = document.getElementById(id);
    return e ? e.textContent.trim() : null;
  };
  const root = document.documentElement;
  const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tbody tr'))
      .map((tr) => Array.from(tr.cells).map((td) => td.textContent.trim()));
  const ids = ['status', 'allowed-rate', 'limited-rate', 'forbidden-rate', 'allowed-total',
               'limited-total', 'forbidden-total', 'storage-backend', 'storage-state',
               'storage-keys', 'storage-errors', 'reload-result', 'reload-time',
               'reload-counts', 'reload-error'];
  if (!document.body) return JSON.stringify({updated: null});
  const out = {updated: document.body.dataset.updated || null,
               topLimits: rows('top-limits'), topClients: rows('top-clients'),
               chart: Object.fromEntries(
                   Array.from(document.querySelectorAll('#chart path.series')).map((p) =>
                       [p.classList[1], (p.getAttribute('d') || '').split(/[ML]/)
                                            .filter(Boolean).length])),
               stale: document.body.classList.contains('stale'),
               html: root.outerHTML,
               overflowX: root.scrollWidth > root.clientWidth};
  for (const id of ids) out[id] = text(id);
  return JSON.stringify(out);
})()'''


def png_facts(data):
    """Checks a PNG completely (signature, chunk CRCs, IHDR, IEND, the decompressed
    scanlines' size) and returns (width, height, number of distinct scanline bytes)."""
    if not data.startswith(b'\x89PNG\r\n\x1a\n'):
        raise AssertionError('not a PNG signature: %r' % data[:8])
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack('>I', data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise AssertionError('bad CRC in chunk %r' % kind)
        chunks.append((kind, body))
        pos += 12 + length
    if chunks[0][0] != b'IHDR' or chunks[-1][0] != b'IEND':
        raise AssertionError('chunks out of order: %r' % [k for k, _ in chunks])
    width, height, depth, color = struct.unpack('>IIBB', chunks[0][1][:10])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    pixels = zlib.decompress(b''.join(b for k, b in chunks if k == b'IDAT'))
    if len(pixels) != height * (1 + width * channels * depth // 8):
        raise AssertionError('IDAT holds %d bytes for %dx%d' % (len(pixels), width, height))
    return width, height, len(set(pixels))


class ResourceParser(html.parser.HTMLParser):
    """Collects every URL-valued attribute, inline style and script of a page."""

    URL_ATTRS = {'src', 'href', 'action', 'formaction', 'poster', 'data', 'srcset',
                 'xlink:href', 'background', 'manifest', 'ping'}

    def __init__(self):
        super().__init__()
        self.urls = []     # (tag, attribute, value)
        self.styles = []   # CSS text: <style> bodies and style="" attributes
        self.scripts = []  # inline script bodies
        self._in = None

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in self.URL_ATTRS:
                self.urls.append((tag, name, value or ''))
            if name == 'style':
                self.styles.append(value or '')
        if tag in ('style', 'script'):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in == 'style':
            self.styles.append(data)
        elif self._in == 'script':
            self.scripts.append(data)


def is_local_url(url):
    """Relative, a fragment, or inline (data:)."""
    url = url.strip()
    if url.lower().startswith('data:') or url.startswith('#') or url == '':
        return True
    parsed = urllib.parse.urlsplit(url)
    return not parsed.scheme and not parsed.netloc and not url.startswith('//')


class Dashboard(GatewayTestCase):
    def setUp(self):
        super().setUp()
        binary = find_chromium()
        if binary is None:
            raise unittest.SkipTest('chromium is not installed: run scripts/install-deps.sh '
                                    '(Debian package "chromium") to run the dashboard test')
        self.start_sluice({'identity': {'trusted_proxies': ['127.0.0.1/32']}}, POLICY)
        self.origin = 'http://127.0.0.1:%d' % self.sluice.admin_port
        profile = tempfile.mkdtemp(prefix='chromium-', dir=self.workdir)
        self.browser = Chromium(binary, profile, os.path.join(self.workdir, 'chromium.log'))
        self.addCleanup(self.browser.close)
        self.snapshot = None

    # ---- helpers --------------------------------------------------------------------

    def read_page(self):
        self.snapshot = json.loads(self.browser.evaluate(SNAPSHOT_JS))
        return self.snapshot

    def wait_page(self, check, timeout=8.0, what='the page'):
        """Polls the page until check(snapshot) holds; on timeout fails with the last
        snapshot and the check's own assertion message."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.read_page()
            try:
                check(page)
                return page
            except AssertionError as e:
                if time.monotonic() > deadline:
                    shown = {k: v for k, v in page.items() if k != 'html'}
                    raise AssertionError('timed out waiting for %s: %s\npage: %s'
                                         % (what, e, json.dumps(shown, indent=1))) from None
            time.sleep(0.1)

    def send_traffic(self):
        for headers, path, expected in TRAFFIC:
            statuses = [self.get(path, headers).status for _ in expected]
            self.assertEqual(statuses, expected, (headers, path))

    def screenshot_path(self):
        return os.path.join(os.path.dirname(os.path.abspath(SLUICE_BIN)), 'dashboard.png')

    # ---- the test -------------------------------------------------------------------

    def test_live_page_matches_the_traffic_and_the_reloads(self):
        served = admin_get(self.sluice.admin_port, '/dashboard')
        self.assertEqual(served.status, 200)
        self.assertIn('text/html', served.header('Content-Type'))
        self.assert_self_contained(served.text)

        self.browser.open_page()
        self.browser.navigate(self.origin + '/dashboard')

        # Before any traffic: zeros, empty tables, the initial load counted as a success.
        def empty(p):
            self.assertIsNotNone(p['updated'], 'no stats rendered yet')
            self.assertEqual((p['allowed-total'], p['limited-total']), ('0', '0'))
            self.assertEqual(p['topLimits'], [['none yet']])
            self.assertEqual(p['topClients'], [['none yet']])
            self.assertEqual(p['reload-result'], 'success')
        self.wait_page(empty, what='the first render')
        first_update = self.snapshot['updated']

        self.send_traffic()

        def traffic_shown(p):
            self.assertEqual(p['allowed-total'], str(ALLOWED))
            self.assertEqual(p['limited-total'], str(LIMITED))
            self.assertEqual(p['forbidden-total'], str(FORBIDDEN))
            self.assertEqual(p['topLimits'], TOP_LIMITS)
            self.assertEqual(p['topClients'], TOP_CLIENTS)
            # Rates: the mean over the last 10 complete seconds, so once the second of
            # the traffic has ended, 11 allowed -> 1.1/s, 9 limited -> 0.9/s.
            self.assertEqual(p['allowed-rate'], '1.1')
            self.assertEqual(p['limited-rate'], '0.9')
            self.assertEqual(p['forbidden-rate'], '0.1')
        page = self.wait_page(traffic_shown, what='the traffic on the page')
        self.assertNotEqual(page['updated'], first_update, 'the page did not refresh itself')
        # One point per complete second of the last minute (the current one is filling up).
        self.assertEqual(page['chart'], {'allowed': 59, 'limited': 59, 'forbidden': 59})
        self.assertEqual(page['storage-backend'], 'memory')
        self.assertEqual(page['storage-state'], 'ok')
        self.assertEqual(page['storage-errors'], '0')
        self.assertGreater(int(page['storage-keys']), 0)
        self.assertEqual(page['reload-result'], 'success')
        self.assertEqual(page['reload-counts'], '0 succeeded, 0 failed')
        self.assertEqual(page['reload-error'], 'none')
        self.assertRegex(page['reload-time'], r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$')
        self.assertFalse(page['overflowX'], 'the page scrolls sideways at 1280 px')
        self.assertNotIn(API_KEY, page['html'])
        self.assertNotIn(USER, page['html'])
        self.assertIn('user:&lt;b&gt;mallory&lt;/b&gt;', page['html'])
        self.assertNotIn(API_KEY, admin_get(self.sluice.admin_port, '/admin/stats').text)

        # A failed reload: the page says it failed and why, and keeps the numbers.
        self.sluice.write_config(policy=BROKEN_POLICY)
        self.assertFalse(self.sluice.reload())
        error = admin_get(self.sluice.admin_port, '/admin/stats').json()['reload']['last_error']
        self.assertRegex(error, r'policies\.yaml:\d+:\d+: .*bogus_bucket')

        def reload_failed(p):
            self.assertEqual(p['reload-result'], 'error')
            self.assertEqual(p['reload-error'], error)
            self.assertEqual(p['reload-counts'], '0 succeeded, 1 failed')
        page = self.wait_page(reload_failed, what='the failed reload on the page')
        self.assertEqual(page['allowed-total'], str(ALLOWED))
        self.assertEqual(page['topLimits'], TOP_LIMITS)
        self.assertTrue(page['status'].startswith('sluice '), page['status'])

        self.assert_only_local_requests()
        self.assert_no_page_errors()
        self.write_screenshot()

        # A phone-sized window: one column, nothing wider than the screen.
        self.browser.call('Emulation.setDeviceMetricsOverride',
                          {'width': 390, 'height': 800, 'deviceScaleFactor': 1, 'mobile': False})
        page = self.wait_page(lambda p: self.assertFalse(p['overflowX'], 'scrolls sideways'),
                              timeout=3, what='the page to fit 390 px')
        self.assertEqual(page['topClients'], TOP_CLIENTS)

        # The gateway goes away: the page says so and keeps the last numbers.
        self.assertEqual(self.sluice.stop(), 0)

        def stale(p):
            self.assertTrue(p['stale'])
            self.assertIn('cannot load /admin/stats', p['status'])
        page = self.wait_page(stale, what='the page to notice the gateway is gone')
        self.assertEqual(page['allowed-total'], str(ALLOWED))

    # ---- checks -------------------------------------------------------------------------

    def assert_self_contained(self, text):
        parser = ResourceParser()
        parser.feed(text)
        parser.close()
        for tag, attr, url in parser.urls:
            self.assertTrue(is_local_url(url), 'external resource <%s %s="%s">' % (tag, attr, url))
        for css in parser.styles:
            self.assertNotIn('@import', css)
            for url in re.findall(r'url\(\s*[\'"]?([^\'")]*)', css):
                self.assertTrue(is_local_url(url), 'external CSS url(%s)' % url)
        for script in parser.scripts:
            for url in re.findall(r'(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\'"`]*', script):
                if url != SVG_NAMESPACE:  # a name for createElementNS, never fetched
                    self.fail('absolute URL in a script: %s' % url)
        self.assertTrue(parser.scripts, 'the page has no inline script')

    def assert_only_local_requests(self):
        urls = [params['request']['url'] for method, params in self.browser.events
                if method == 'Network.requestWillBeSent']
        self.assertIn(self.origin + '/dashboard', urls)
        self.assertIn(self.origin + '/admin/stats', urls)
        foreign = [u for u in urls if not (u.startswith(self.origin + '/')
                                          or u.startswith('data:'))]
        self.assertEqual(foreign, [], 'the page loaded resources from elsewhere')
        failed = [(params['requestId'], params.get('errorText'))
                  for method, params in self.browser.events
                  if method == 'Network.loadingFailed' and not params.get('canceled')]
        self.assertEqual(failed, [])
        statuses = {params['response']['url']: params['response']['status']
                    for method, params in self.browser.events
                    if method == 'Network.responseReceived'}
        self.assertEqual({u: s for u, s in statuses.items() if s != 200}, {},
                         'requests that did not answer 200')

    def assert_no_page_errors(self):
        problems = []
        for method, params in self.browser.events:
            if method == 'Runtime.exceptionThrown':
                problems.append(params['exceptionDetails'].get('exception', {})
                                .get('description') or params['exceptionDetails']['text'])
            elif method == 'Runtime.consoleAPICalled' and params['type'] in ('error', 'warning'):
                problems.append(' '.join(str(a.get('value', a.get('description')))
                                         for a in params['args']))
            elif method == 'Log.entryAdded' and params['entry']['level'] in ('error', 'warning'):
                problems.append(params['entry']['text'])
        self.assertEqual(problems, [], 'errors on the page')

    def write_screenshot(self):
        png = self.browser.screenshot()
        path = self.screenshot_path()
        with open(path, 'wb') as f:
            f.write(png)
        with open(path, 'rb') as f:
            width, height, distinct = png_facts(f.read())
        self.assertGreaterEqual(width, 1000)
        self.assertGreaterEqual(height, 300)
        self.assertGreater(distinct, 16, 'the screenshot is blank')


if __name__ == '__main__':
    unittest.main()
