"""Calendar quotas (issue 14): a limit of N per calendar month, week or day counts from
local midnight of its time zone on the anchor day to the next one. Through the real
binary on the memory backend and on Redis (two gateways sharing one quota): exactly N
admitted per period, the reset headers, RateLimit-Policy's window, Retry-After and the
429 body point at the period's real end (computed here with Python's zoneinfo over the
same tz database), the 429 says X-Should-Retry: false, and the admin API's peek agrees.
The period rollovers themselves (daylight saving, short months, anchors) are unit tests
with an injected clock: tests/config/calendar_test.cpp, tests/limit/engine_test.cpp."""

import time
import unittest
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from harness import GatewayTestCase, admin_get, request
from redis_support import RedisCase, redis_call

# Auckland is 13 hours ahead of UTC in December: a UTC month or day would end elsewhere.
ZONE = 'Pacific/Auckland'
ANCHOR = 15

POLICY = {
    'routes': [{'name': 'weekly', 'match': '/weekly/**'}],
    'limits': [
        {'name': 'monthly', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '5/month',
         'calendar': {'time_zone': ZONE, 'anchor_day': ANCHOR}, 'routes': ['default']},
        # N/week without `calendar:`: UTC weeks from Monday.
        {'name': 'weekly', 'key': 'ip', 'algorithm': 'fixed_window', 'rate': '2/week',
         'routes': ['weekly']},
    ],
}


def month_period(now, zone, anchor):
    """[start, end) in Unix seconds of the billing month holding `now` (Unix seconds):
    local midnight of the anchor day (clamped to the month's last day) to the next."""
    tz = ZoneInfo(zone)
    today = datetime.fromtimestamp(now, tz).date()

    def anchor_in(year, month):
        last = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
        return date(year, month, min(anchor, last))

    def shift(year, month, by):
        index = year * 12 + (month - 1) + by
        return index // 12, index % 12 + 1

    this = anchor_in(today.year, today.month)
    if today >= this:
        start, end = this, anchor_in(*shift(today.year, today.month, 1))
    else:
        start, end = anchor_in(*shift(today.year, today.month, -1)), this
    midnight = lambda d: int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())
    return midnight(start), midnight(end)


def utc_week_end(now):
    """The Unix second the UTC week (from Monday 00:00) holding `now` ends."""
    day = int(now // 86400)
    monday = day - (day + 3) % 7  # 1970-01-01 was a Thursday
    return (monday + 7) * 86400


class CalendarChecks:
    """The checks shared by the memory and the Redis runs; `gateways` take turns."""

    def spend_month(self, gateways):
        now = time.time()
        start, end = month_period(now, ZONE, ANCHOR)
        responses = [request(gateways[i % len(gateways)].port, 'GET', '/m')
                     for i in range(6)]
        self.assertEqual([r.status for r in responses], [200] * 5 + [429])
        for r in responses[:5]:
            self.assertEqual(int(r.header('X-RateLimit-Reset')), end)
            self.assertEqual(r.header('RateLimit-Policy'), '5;w=%d' % (end - start))
        self.assertEqual([int(r.header('X-RateLimit-Remaining')) for r in responses],
                         [4, 3, 2, 1, 0, 0])
        denied = responses[5]
        self.assertEqual(denied.header('X-RateLimit-Scope'), 'monthly')
        self.assertEqual(denied.header('X-Should-Retry'), 'false')
        wait = int(denied.header('Retry-After'))
        self.assertAlmostEqual(wait, end - now, delta=3)
        body = denied.json()['error']
        self.assertEqual(body['reset'], end)
        self.assertEqual(body['retry_after'], wait)
        if wait >= 86400:
            days = (wait + 43200) // 86400
            self.assertIn('(about %d day' % days, body['message'])
        return end

    def spend_week(self, gateways):
        end = utc_week_end(time.time())
        statuses = []
        for i in range(3):
            r = request(gateways[i % len(gateways)].port, 'GET', '/weekly/x')
            statuses.append(r.status)
            self.assertEqual(int(r.header('X-RateLimit-Reset')), end)
        self.assertEqual(statuses, [200, 200, 429])
        self.assertEqual(r.header('X-Should-Retry'), 'false')


class CalendarQuotaMemory(GatewayTestCase, CalendarChecks):
    def test_a_monthly_quota_ends_at_local_midnight_of_the_anchor_day(self):
        self.start_sluice({}, POLICY)
        end = self.spend_month([self.sluice])
        self.assertEqual(self.upstream.count, 5)
        peek = request(self.sluice.admin_port, 'GET', '/admin/limits/monthly/127.0.0.1').json()
        self.assertEqual((peek['limit'], peek['remaining']), (5, 0))
        self.assertAlmostEqual(peek['reset_seconds'], end - time.time(), delta=3)

    def test_a_weekly_quota_without_calendar_runs_monday_to_monday_utc(self):
        self.start_sluice({}, POLICY)
        self.spend_week([self.sluice])
        # /admin/config shows each limit's calendar as configured.
        limits = admin_get(self.sluice.admin_port, '/admin/config').json()['policy']['limits']
        self.assertEqual([(l['rate'], l.get('calendar')) for l in limits], [
            ('5/month', {'time_zone': ZONE, 'anchor_day': ANCHOR}), ('2/week', None)])


class CalendarQuotaRedis(RedisCase, CalendarChecks):
    def test_two_gateways_share_one_monthly_and_one_weekly_quota(self):
        redis = self.start_redis()
        patient = {'storage': {'redis': {'timeout': '2s'}}}
        gateways = [self.start_gateway(redis, POLICY, overrides=patient) for _ in range(2)]
        end = self.spend_month(gateways)
        self.spend_week(gateways)
        # Each gateway sees the spent quota, and the Redis key lives until the period ends.
        for g in gateways:
            self.assertEqual(request(g.port, 'GET', '/m').status, 429)
        peek = request(gateways[1].admin_port, 'GET', '/admin/limits/monthly/127.0.0.1').json()
        self.assertEqual((peek['limit'], peek['remaining']), (5, 0))
        self.assertAlmostEqual(peek['reset_seconds'], end - time.time(), delta=3)
        pttl = redis_call(redis.port, 'PTTL', 'sluice:monthly:127.0.0.1')
        self.assertGreater(pttl, (end - time.time() - 3) * 1000)
        self.assertLess(pttl, (end - time.time() + 5) * 1000)


if __name__ == '__main__':
    unittest.main()
