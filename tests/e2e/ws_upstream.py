"""A real WebSocket upstream for the e2e tests (Debian's python3-websockets), on its own
asyncio loop in a thread:
  - a WebSocket connection echoes every message (text or binary, fragmented or not);
    the text message `close:<code>` makes it close with that code instead;
  - it records each handshake's request headers (`handshakes`) and the close code each
    connection ended with (`closes`);
  - a request to /plain (with or without Upgrade) is answered 200 "plain" over HTTP,
    and one to /refuse with a 403, without switching protocols.
"""

import asyncio
import http
import threading

import websockets


class WebSocketUpstream:
    def __init__(self):
        self.handshakes = []
        self.closes = []
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError('WebSocket upstream did not start')

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.port

    def _run(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(websockets.serve(
            self._echo, '127.0.0.1', 0, process_request=self._plain_http,
            max_size=None, ping_interval=None))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _plain_http(self, path, headers):
        if path.startswith('/plain'):
            return http.HTTPStatus.OK, [('Content-Type', 'text/plain')], b'plain'
        if path.startswith('/refuse'):
            return http.HTTPStatus.FORBIDDEN, [('Content-Type', 'text/plain')], b'refused'
        self.handshakes.append(headers)
        return None

    async def _echo(self, ws):
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith('close:'):
                    await ws.close(int(message[len('close:'):]), 'asked to')
                    break
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        self.closes.append(ws.close_code)

    async def _shutdown(self):
        self._server.close()
        await self._server.wait_closed()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
