"""Headless Chromium driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4), so the browser
tests need only the standard library and Debian's chromium package
(scripts/install-deps.sh installs it). Used by test_dashboard and test_websocket."""

import base64
import fcntl
import json
import os
import select
import signal
import shutil
import subprocess
import time

CHROMIUM_CANDIDATES = ('chromium', 'chromium-browser', '/usr/bin/chromium')
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync',
    '--disable-extensions', '--disable-default-apps', '--mute-audio', '--hide-scrollbars',
    '--force-device-scale-factor=1', '--window-size=1280,900',
]


def find_chromium():
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevToolsError(AssertionError):
    pass


class Chromium:
    """Headless Chromium with the DevTools protocol on a pipe. call() sends a command and
    returns its result; events are kept in `events` (method, params)."""

    def __init__(self, binary, profile_dir, log_path, extra_flags=()):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Numbers >= 10 so that the redirections onto 3 and 4 cannot clobber them (bash:
        # dash takes single-digit descriptors only).
        child_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_child_r)
        os.close(from_child_w)
        args = CHROMIUM_FLAGS + list(extra_flags) + [
            '--user-data-dir=' + profile_dir, '--remote-debugging-pipe', 'about:blank']
        with open(log_path, 'ab') as log:
            self.process = subprocess.Popen(
                ['bash', '-c', 'exec "$@" 3<&%d 4>&%d' % (child_r, child_w), 'bash', binary]
                + args, pass_fds=(child_r, child_w), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True)
        os.close(child_r)
        os.close(child_w)
        self._buffer = b''
        self._next_id = 0
        self.events = []
        self.session = None

    def _read_message(self, deadline):
        while b'\0' not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DevToolsError('no answer from chromium')
            ready, _, _ = select.select([self._from_child], [], [], remaining)
            if ready:
                data = os.read(self._from_child, 1 << 20)
                if not data:
                    raise DevToolsError('chromium closed the DevTools pipe (exit %r)'
                                        % self.process.poll())
                self._buffer += data
        message, self._buffer = self._buffer.split(b'\0', 1)
        return json.loads(message)

    def call(self, method, params=None, session=True, timeout=10.0):
        self._next_id += 1
        message = {'id': self._next_id, 'method': method, 'params': params or {}}
        if session and self.session:
            message['sessionId'] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b'\0')
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get('id') == self._next_id:
                if 'error' in reply:
                    raise DevToolsError('%s: %s' % (method, reply['error']))
                return reply.get('result', {})
            if 'method' in reply:
                self.events.append((reply['method'], reply.get('params', {})))

    def open_page(self):
        """Attaches to the first tab; enables the domains whose events the test reads."""
        targets = self.call('Target.getTargets', session=False)['targetInfos']
        page = next(t for t in targets if t['type'] == 'page')
        self.session = self.call('Target.attachToTarget',
                                 {'targetId': page['targetId'], 'flatten': True},
                                 session=False)['sessionId']
        for domain in ('Page', 'Runtime', 'Network', 'Log'):
            self.call(domain + '.enable')

    def wait_event(self, method, timeout=10.0):
        """Reads messages until the event `method` arrives (or has already arrived)."""
        deadline = time.monotonic() + timeout
        if any(m == method for m, _ in self.events):
            return
        while True:
            message = self._read_message(deadline)
            if 'method' in message:
                self.events.append((message['method'], message.get('params', {})))
                if message['method'] == method:
                    return

    def navigate(self, url):
        """Opens `url` and returns once its load event has fired."""
        self.events = [e for e in self.events if e[0] != 'Page.loadEventFired']
        result = self.call('Page.navigate', {'url': url})
        if result.get('errorText'):
            raise DevToolsError('navigation to %s failed: %s' % (url, result['errorText']))
        self.wait_event('Page.loadEventFired')

    def evaluate(self, expression, await_promise=False, timeout=10.0):
        """The value of `expression` (of the promise it returns, with await_promise)."""
        result = self.call('Runtime.evaluate', {'expression': expression,
                                                'returnByValue': True,
                                                'awaitPromise': await_promise},
                           timeout=timeout)
        if 'exceptionDetails' in result:
            raise DevToolsError('evaluate: %s' % result['exceptionDetails'])
        return result['result'].get('value')

    def screenshot(self):
        """A PNG of the whole page (not just the window)."""
        metrics = self.call('Page.getLayoutMetrics')
        size = metrics.get('cssContentSize') or metrics['contentSize']
        width, height = int(size['width']), int(size['height'])
        data = self.call('Page.captureScreenshot', {
            'format': 'png', 'captureBeyondViewport': True,
            'clip': {'x': 0, 'y': 0, 'width': width, 'height': height, 'scale': 1}})['data']
        return base64.b64decode(data)

    def close(self):
        if self.process.poll() is None:
            try:
                self.call('Browser.close', session=False, timeout=5)
            except (DevToolsError, OSError):
                pass
        # The whole process group (started with it: its renderers and helpers) goes, while
        # the browser is not yet reaped, so the group id cannot belong to anyone else: a
        # page left polling would send requests to whatever next listens on its port.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
