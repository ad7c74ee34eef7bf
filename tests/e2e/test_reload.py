"""Reload (SPEC 8, 1): new limits apply on the next request, an invalid version keeps
the running one and says where it is wrong, no request fails because of a reload;
limiter state survives when a limit's name, key and algorithm are unchanged; file
watching (in-place writes, editor-style renames, new policy files, debounce,
reload.watch: false). test_lifecycle has the basic SIGHUP test."""

import os
import re
import signal
import subprocess
import threading
import time
import unittest

import upstream
from harness import (SLUICE_BIN, Client, GatewayTestCase, Sluice, admin_get, request, to_yaml,
                     wait_for)

# The test upstream writes a response head and body separately; with Nagle on, each
# keep-alive response then waits for a delayed ACK (~40 ms, 25 requests/s). The load
# test needs thousands of requests per second.
upstream._Handler.disable_nagle_algorithm = True

ERROR_LINE = re.compile(r'^  (\S+):(\d+):(\d+): (.+)$', re.M)


def reload_counts(gateway):
    m = gateway.metrics()
    return (m.value('gateway_config_reloads_total', result='success'),
            m.value('gateway_config_reloads_total', result='error'))


def wait_reloads(gateway, before, success=0, error=0, timeout=5.0):
    """Waits until exactly (success, error) more reloads are counted than in `before`."""
    want = (before[0] + success, before[1] + error)

    def reached():
        now = reload_counts(gateway)
        if now[0] > want[0] or now[1] > want[1]:
            raise AssertionError('more reloads than expected: %r, wanted %r' % (now, want))
        return now == want
    wait_for(reached, timeout=timeout, message='%d+%d reloads' % (success, error))


def policy_text(burst):
    # Never trips under the test's load (a few thousand requests/s at most), and
    # tolerates a request that waited up to burst/rate = 100 ms between reading the
    # clock and being decided (a preempted thread on a loaded 2-core machine).
    return to_yaml({'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '10000/s', 'burst': burst}]}) + '\n'


def write_atomically(path, text):
    """An editor-style save: a new file renamed over the old one."""
    temp = path + '.tmp~'
    with open(temp, 'w') as f:
        f.write(text)
    os.rename(temp, path)


class LoadGenerator:
    """wrk-style: `threads` keep-alive connections sending GETs back to back. Records
    every status, connection error and X-RateLimit-Limit value seen, per thread."""

    def __init__(self, port, threads=4):
        self.port = port
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.failures = []      # (kind, detail)
        self.limits_seen = [[] for _ in range(threads)]  # per thread, in order
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(15)

    def run(self, index):
        client = Client(self.port, timeout=10)
        seen = self.limits_seen[index]
        n = 0
        try:
            while not self.stop_flag.is_set():
                try:
                    r = client.get('/load/%d/%d' % (index, n))
                except Exception as e:  # noqa: BLE001 - every error is a failure
                    with self.lock:
                        self.sent += 1
                        self.failures.append(('connection', repr(e)))
                    client.close()
                    client = Client(self.port, timeout=10)
                    continue
                n += 1
                with self.lock:
                    self.sent += 1
                    if r.status != 200:  # 5xx, or anything else unexpected
                        self.failures.append(('status', r.status))
                limit = r.header('X-RateLimit-Limit')
                if not seen or seen[-1] != limit:
                    seen.append(limit)
        finally:
            client.close()


class ReloadUnderLoad(GatewayTestCase):
    """The issue's reload test: 20 reloads (SIGHUP, POST /admin/reload, and file
    writes seen by the watcher; 6 of them invalid) while four keep-alive clients
    send requests the whole time."""

    def test_twenty_reloads_under_load(self):
        self.start_sluice({'reload': {'watch': True}}, policy_text(1000))
        gw = self.sluice
        policy_path = os.path.join(gw.workdir, 'policies.yaml')
        probe = self.client()
        admin = Client(gw.admin_port)
        self.addCleanup(admin.close)
        self.assertEqual(probe.get('/probe').header('X-RateLimit-Limit'), '1000')

        load = LoadGenerator(gw.port).start()
        self.addCleanup(load.stop)
        valid_bursts = [1000]
        invalid_bursts = []
        state = {'burst': 1000, 'counts': reload_counts(gw), 'errors_logged': 0}

        def bad_policy(kind, burst):
            invalid_bursts.append(burst)
            if kind == 'unknown-key':
                return ('limits:\n  - {name: per-ip, key: ip, rate: 100000/s, burst: %d, '
                        'bogus: 1}\n' % burst)
            if kind == 'zero-rate':
                return ('limits:\n  - {name: per-ip, key: ip, rate: 0/s, burst: %d}\n' % burst)
            if kind == 'syntax':
                return 'limits:\n  - {name: per-ip, key: ip, burst: %d\n' % burst
            if kind == 'unknown-route':
                return ('limits:\n  - {name: per-ip, key: ip, rate: 100000/s, burst: %d, '
                        'routes: [nope]}\n' % burst)
            raise ValueError(kind)

        def check_applied(burst):
            self.assertEqual(probe.get('/next').header('X-RateLimit-Limit'), str(burst),
                             'the new limit applies on the next request')

        def check_refused(expected_file):
            # The old configuration is still the one answering.
            self.assertEqual(probe.get('/next').header('X-RateLimit-Limit'),
                             str(state['burst']))
            def new_failure():
                chunks = gw.stderr().split('sluice: reload failed')
                return chunks if len(chunks) - 1 > state['errors_logged'] else None
            chunks = wait_for(new_failure, message='the error on stderr')
            state['errors_logged'] = len(chunks) - 1
            path, line, col, message = ERROR_LINE.findall(chunks[-1])[0]
            self.assertEqual(os.path.basename(path), expected_file)
            self.assertGreaterEqual(int(line), 1)
            self.assertGreaterEqual(int(col), 1)
            reload_stats = admin.get('/admin/stats').json()['reload']
            self.assertEqual(reload_stats['last_result'], 'error')
            self.assertEqual(reload_stats['last_error'],
                             '%s:%s:%s: %s' % (path, line, col, message))

        def step(method, text=None, ok=True, config=None, expected_file='policies.yaml'):
            before = state['counts']
            if config is not None:
                gw.write_config(config=config)
            if text is not None:
                if method == 'rename':
                    write_atomically(policy_path, text)
                else:
                    with open(policy_path, 'w') as f:
                        f.write(text)
            if method == 'sighup':
                gw.signal(signal.SIGHUP)
            elif method == 'post':
                r = admin.request('POST', '/admin/reload')
                self.assertEqual(r.status, 200 if ok else 400, r)
                if not ok:
                    self.assertEqual(r.json()['error']['code'], 'invalid_config')
            wait_reloads(gw, before, success=int(ok), error=int(not ok))
            state['counts'] = reload_counts(gw)

        def good(method, **kw):
            burst = state['burst'] + 1
            step(method, policy_text(burst), ok=True, **kw)
            state['burst'] = burst
            valid_bursts.append(burst)
            check_applied(burst)

        def bad(method, kind):
            step(method, bad_policy(kind, 5000 + len(invalid_bursts)), ok=False)
            check_refused('policies.yaml')

        # Phase 1: the watcher sees in-place writes and editor-style renames.
        good('write')
        good('rename')
        bad('write', 'unknown-key')
        good('write')
        bad('rename', 'syntax')
        good('rename')
        # The watcher sees config.yaml too; this version turns watching off.
        no_watch = dict(gw.config, reload={'watch': False})
        good('write', config=no_watch)
        # Phase 2: SIGHUP and POST /admin/reload (writes alone no longer reload).
        good('sighup')
        good('post')
        bad('sighup', 'zero-rate')
        good('sighup')
        bad('post', 'unknown-route')
        good('post')
        # An invalid config.yaml: the error names that file.
        before = state['counts']
        with open(gw.config_path, 'w') as f:
            f.write(to_yaml(gw.config) + '\nbogus_key: 1\n')
        gw.signal(signal.SIGHUP)
        wait_reloads(gw, before, error=1)
        state['counts'] = reload_counts(gw)
        check_refused('config.yaml')
        good('sighup', config=no_watch)
        # Phase 3: watching on again (through SIGHUP), then the watcher again.
        good('sighup', config=dict(gw.config, reload={'watch': True}))
        good('write')
        bad('write', 'zero-rate')
        good('rename')
        good('write')

        time.sleep(0.5)  # no late, extra reload from the watcher
        load.stop()
        success, errors = reload_counts(gw)
        self.assertEqual((success, errors), (14, 6))
        self.assertEqual(success + errors, 20)

        sent = load.sent
        print('\nreload under load: %d requests during 20 reloads, %d failed'
              % (sent, len(load.failures)))
        self.assertGreater(sent, 1000)  # a sanitizer build serves a few hundred per second
        self.assertEqual(load.failures, [], 'no request fails because of a reload')
        for seen in load.limits_seen:
            values = [int(v) for v in seen]
            # Each request uses one configuration; a later request never sees an older one,
            # and no invalid version is ever used.
            self.assertEqual(values, sorted(values))
            self.assertTrue(set(values) <= set(valid_bursts), values)
            self.assertFalse(set(values) & set(invalid_bursts))
        self.assertTrue(gw.running())
        self.assertEqual(gw.stop(), 0)


class StateAcrossReload(GatewayTestCase):
    def exhaust(self, client, n):
        for _ in range(n):
            self.assertEqual(client.get('/x').status, 200)
        r = client.get('/x')
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '0')

    def reload_with(self, limits):
        self.sluice.write_config(policy={'limits': limits})
        self.assertTrue(self.sluice.reload())

    def test_state_survives_when_name_key_and_algorithm_are_unchanged(self):
        bucket = {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 3}
        self.start_sluice({}, {'limits': [bucket]})
        client = self.client()
        self.exhaust(client, 3)

        # Another rate, another limit added: still at 0 remaining, still limited.
        self.reload_with([dict(bucket, rate='2/1h'),
                          {'name': 'other', 'key': 'ip', 'rate': '1000/s'}])
        r = client.get('/x')
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header('X-RateLimit-Scope'), 'per-ip')
        self.assertEqual(admin_get(self.sluice.admin_port,
                                   '/admin/limits/per-ip/127.0.0.1').json()['remaining'], 0)

        # Another algorithm under the same name and key: fresh state.
        self.reload_with([{'name': 'per-ip', 'key': 'ip', 'algorithm': 'fixed_window',
                           'rate': '3/1h'}])
        r = client.get('/x')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header('X-RateLimit-Remaining'), '2')

    def test_state_is_fresh_when_the_key_or_name_changes(self):
        bucket = {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 2}
        self.start_sluice({}, {'limits': [bucket]})
        client = self.client()
        self.exhaust(client, 2)
        self.reload_with([dict(bucket, key=['ip', 'method'])])
        self.assertEqual(client.get('/x').header('X-RateLimit-Remaining'), '1')
        self.reload_with([dict(bucket, name='renamed', key=['ip', 'method'])])
        self.assertEqual(client.get('/x').header('X-RateLimit-Remaining'), '1')


class FileWatching(GatewayTestCase):
    """reload.watch: the policies directory and config.yaml, debounced (200 ms)."""

    QUIET = 0.6  # longer than the debounce: no further reload may follow

    def start_watching(self, watch=True, policy=None):
        config = self.make_config({'reload': {'watch': watch}, 'policies': 'policies/'})
        self.policy_dir = os.path.join(self.workdir, 'policies')
        os.mkdir(self.policy_dir)
        self.policy_path = os.path.join(self.policy_dir, 'main.yaml')
        with open(self.policy_path, 'w') as f:
            f.write(policy or policy_text(10))
        gateway = Sluice(self.workdir, config, None)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start()
        self.sluice = gateway
        self.probe = self.client()
        self.assertEqual(self.limit(), '10')

    def limit(self):
        return self.probe.get('/w').header('X-RateLimit-Limit')

    def expect_one_reload(self, change, success=True):
        before = reload_counts(self.sluice)
        change()
        wait_reloads(self.sluice, before, success=int(success), error=int(not success))
        time.sleep(self.QUIET)
        self.assertEqual(reload_counts(self.sluice),
                         (before[0] + int(success), before[1] + int(not success)))

    def test_in_place_write_in_pieces_is_one_reload(self):
        self.start_watching()

        def write_in_pieces():
            # Three writes 50 ms apart, the first leaving an invalid half file: the
            # debounce waits for the last one.
            text = policy_text(11)
            half = len(text) // 2
            with open(self.policy_path, 'w') as f:
                f.write(text[:half])
            time.sleep(0.05)
            with open(self.policy_path, 'a') as f:
                f.write(text[half:half + 3])
            time.sleep(0.05)
            with open(self.policy_path, 'a') as f:
                f.write(text[half + 3:])
        self.expect_one_reload(write_in_pieces)
        self.assertEqual(self.limit(), '11')

    def test_editor_save_by_rename_is_one_reload(self):
        self.start_watching()
        self.expect_one_reload(lambda: write_atomically(self.policy_path, policy_text(12)))
        self.assertEqual(self.limit(), '12')

        def vim_style():
            # Back up by renaming the original away, write a new file, remove the backup.
            backup = self.policy_path + '~'
            os.rename(self.policy_path, backup)
            with open(self.policy_path, 'w') as f:
                f.write(policy_text(13))
            os.unlink(backup)
        self.expect_one_reload(vim_style)
        self.assertEqual(self.limit(), '13')

    def test_new_policy_file_is_one_reload(self):
        self.start_watching()

        def add_file():
            with open(os.path.join(self.policy_dir, 'zz-extra.yaml'), 'w') as f:
                f.write(to_yaml({'limits': [
                    {'name': 'extra', 'key': 'ip', 'rate': '1/1h', 'burst': 5}]}) + '\n')
        self.expect_one_reload(add_file)
        r = self.probe.get('/w')
        self.assertEqual(r.header('X-RateLimit-Scope'), 'extra')
        self.assertEqual(r.header('X-RateLimit-Limit'), '5')

        # Files that are not policies (not *.yaml, or hidden) change nothing.
        before = reload_counts(self.sluice)
        with open(os.path.join(self.policy_dir, 'notes.txt'), 'w') as f:
            f.write('x')
        with open(os.path.join(self.policy_dir, '.hidden.yaml'), 'w') as f:
            f.write('x')
        with open(os.path.join(self.policy_dir, 'other.yml'), 'w') as f:  # the loader reads *.yaml
            f.write('x')
        time.sleep(self.QUIET)
        self.assertEqual(reload_counts(self.sluice), before)

    def test_invalid_write_is_one_failed_reload(self):
        self.start_watching()
        self.expect_one_reload(
            lambda: write_atomically(self.policy_path, 'limits: [{name: a, rate: 0/s}]\n'),
            success=False)
        self.assertEqual(self.limit(), '10')
        self.assertRegex(self.sluice.stderr(), r'main\.yaml:1:\d+: limits\[0\]')

    def test_config_file_change_is_one_reload(self):
        self.start_watching()
        config = dict(self.sluice.config, headers={'legacy': False})
        self.expect_one_reload(lambda: self.sluice.write_config(config=config))
        self.assertIsNone(self.probe.get('/w').header('X-RateLimit-Limit'))

    def test_change_during_a_reload_is_not_lost(self):
        # A policy that takes a while to load (many API keys), so that the save below
        # lands while the SIGHUP reload is still running.
        def slow_policy(burst):
            keys = ''.join('    key-%08d: {tier: free}\n' % i for i in range(8000))
            return ('tiers: {free: {rate: 1/s}}\nclients:\n  default_tier: free\n'
                    '  api_keys:\n' + keys + policy_text(burst))
        self.start_watching(policy=slow_policy(10))
        started = time.monotonic()
        self.assertTrue(self.sluice.reload())
        load_time = time.monotonic() - started

        self.sluice.signal(signal.SIGHUP)
        time.sleep(min(0.1, load_time / 4))
        write_atomically(self.policy_path, slow_policy(11))
        wait_for(lambda: self.limit() == '11', timeout=10 + 3 * load_time,
                 message='the save made during a reload to be applied')

    def test_configmap_symlink_swap_is_one_reload(self):
        # Kubernetes mounts a ConfigMap as <dir>/..data -> ..<timestamp>/ with
        # <dir>/<file> -> ..data/<file>, and updates it by swapping the ..data link.
        cm = os.path.join(self.workdir, 'cm')
        os.mkdir(cm)

        def publish(version, burst):
            target = '..v%d' % version
            os.mkdir(os.path.join(cm, target))
            with open(os.path.join(cm, target, 'policies.yaml'), 'w') as f:
                f.write(policy_text(burst))
            os.symlink(target, os.path.join(cm, '..data_tmp'))
            os.rename(os.path.join(cm, '..data_tmp'), os.path.join(cm, '..data'))
        publish(1, 10)
        os.symlink('..data/policies.yaml', os.path.join(cm, 'policies.yaml'))
        config = self.make_config({'reload': {'watch': True}, 'policies': 'cm/policies.yaml'})
        gateway = Sluice(self.workdir, config, None)
        self.addCleanup(self._stop_gateway, gateway)
        self.sluice = gateway.start()
        self.probe = self.client()
        self.assertEqual(self.limit(), '10')

        self.expect_one_reload(lambda: publish(2, 14))
        self.assertEqual(self.limit(), '14')

    def test_a_leading_comma_fails_the_reload_and_hangs_nothing(self):
        # yaml-cpp 0.7 loops forever on a ',' where a value should start; the reload
        # runs on the admin listener's thread, so a hang there silenced /healthz and
        # /metrics, ignored SIGTERM and stopped the watcher. Now it is one failed reload.
        self.start_watching()
        gw = self.sluice
        admin = Client(gw.admin_port, timeout=5)
        self.addCleanup(admin.close)
        comma = ("cannot parse: unexpected ',' (outside [ ] and { } it cannot start a value; "
                 "quote a value that starts with ',')")
        good_config = to_yaml(gw.config) + '\n'
        self.assertTrue(good_config.startswith('listen: '))

        def refused(path):
            line = '%s:1:1: %s' % (path, comma)
            self.assertIn('  ' + line + '\n', gw.stderr())
            stats = admin.get('/admin/stats').json()['reload']
            self.assertEqual((stats['last_result'], stats['last_error']), ('error', line))
            self.assertEqual(admin.get('/healthz').status, 200)
            self.assertEqual(self.limit(), '10', 'the running configuration answers')
            return line

        # The typo in config.yaml, seen by the watcher.
        self.expect_one_reload(
            lambda: gw.write_config(config=',isten: x\n' + good_config[len('listen: '):]),
            success=False)
        refused(gw.config_path)
        # Fixing the file reloads: the watcher still runs.
        self.expect_one_reload(lambda: gw.write_config(config=good_config))

        # A policy file holding just ','; the watcher's reload, then POST /admin/reload.
        self.expect_one_reload(lambda: write_atomically(self.policy_path, ',\n'), success=False)
        line = refused(self.policy_path)
        before = reload_counts(gw)
        r = admin.request('POST', '/admin/reload')
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()['error']['details'], [line])
        wait_reloads(gw, before, error=1)
        self.assertEqual(self.get('/traffic').status, 200)
        self.expect_one_reload(lambda: write_atomically(self.policy_path, policy_text(11)))
        self.assertEqual(self.limit(), '11')

        self.assertEqual(gw.stop(timeout=10), 0, 'SIGTERM stops the gateway')

    def test_watch_false_disables_watching(self):
        self.start_watching(watch=False)
        write_atomically(self.policy_path, policy_text(20))
        with open(self.policy_path, 'w') as f:
            f.write(policy_text(21))
        time.sleep(self.QUIET)
        self.assertEqual(reload_counts(self.sluice), (0, 0))
        self.assertEqual(self.limit(), '10')
        self.assertTrue(self.sluice.reload())  # explicit reloads still work
        self.assertEqual(self.limit(), '21')


class CredentialsInReloadErrors(GatewayTestCase):
    """A Redis address with a password in it, from ${VAR} or written in the file, never
    appears in a reload error, /admin/stats (which needs no token), the log or
    --check-config."""
    SECRET = 'hunter2-e2e'

    def setUp(self):
        super().setUp()
        # The gateway inherits the environment it is started with.
        os.environ['SLUICE_E2E_REDIS_URL'] = 'redis://:%s@cache.internal:6379' % self.SECRET
        self.addCleanup(os.environ.pop, 'SLUICE_E2E_REDIS_URL', None)

    def failed_reload(self, address):
        config = dict(self.sluice.config, storage={'redis': {'address': address}})
        self.sluice.write_config(config=config)
        response = request(self.sluice.admin_port, 'POST', '/admin/reload')
        self.assertEqual(response.status, 400)
        self.assertNotIn(self.SECRET, response.text)
        last_error = admin_get(self.sluice.admin_port, '/admin/stats').json()['reload'][
            'last_error']
        self.assertNotIn(self.SECRET, last_error)
        return last_error

    def test_passwords_are_never_echoed(self):
        self.start_sluice()
        self.assertIn("storage.redis.address: invalid address '${SLUICE_E2E_REDIS_URL}'",
                      self.failed_reload('${SLUICE_E2E_REDIS_URL}'))
        self.assertIn("invalid address 'redis://admin:****@cache.internal:6379'",
                      self.failed_reload('redis://admin:%s@cache.internal:6379' % self.SECRET))
        self.assertEqual(self.get('/still-serving').status, 200)
        check = subprocess.run([SLUICE_BIN, '--check-config', self.sluice.config_path],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 1)
        self.assertIn('invalid address', check.stderr)
        self.assertNotIn(self.SECRET, check.stdout + check.stderr)
        self.assertIn('reload failed', self.sluice.stderr())
        self.assertNotIn(self.SECRET, self.sluice.stderr())


if __name__ == '__main__':
    unittest.main()
