"""The analytics pages in a real browser: headless Chromium driven by Playwright against a live server.

A tenant user logs in through the admin's login form, opens the dashboard of a campaign seeded through the
real services (status moves, short links, the click writer, an inbound STOP), and the page must show what
the stats API says, draw its charts, follow new clicks without a reload while the campaign is sending, and
load under a strict Content-Security-Policy (no inline script, nothing from another origin).
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from campaigns.counters import counts_add
from campaigns.models import CampaignStatus
from campaigns.models import MessageStatus as S
from campaigns.tests.factories import CampaignFactory, MessageFactory
from campaigns.transitions import message_move
from compliance.inbound import inbound_receive
from contacts.tests.factories import ContactFactory
from links.capture import click_event
from links.services import clicks_record, short_links_create_for_messages

PASSWORD = "pw-123456"  # UserFactory's
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
# What a strict deployment would send: scripts and styles from our own origin only.
STRICT_CSP = "default-src 'self'; script-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"

# message → its moves, in order (variant A for even, B for odd indexes)
PATHS = [
    [S.SUPPRESSED],
    [S.SENDING, S.FAILED],
    [S.SENDING, S.QUEUED, S.SENT, S.UNDELIVERED],
    [S.SENDING, S.QUEUED, S.SENT, S.DELIVERED],  # clicked twice on an iPhone, previewed by WhatsApp
    [S.SENDING, S.QUEUED, S.DELIVERED],  # clicked on Android, then STOP
    [S.SENDING, S.QUEUED, S.SENT, S.DELIVERED],  # clicked on a desktop
    [S.SENDING, S.QUEUED, S.SENT, S.DELIVERED, S.READ],  # over RCS, and read
    [S.SENDING, S.QUEUED, S.SENT],  # over RCS, not read (yet)
]
#: Messages whose status callbacks named RCS (a channel that reports reads); the others went by SMS.
RCS = {6, 7}
pytestmark = pytest.mark.django_db(transaction=True)


def _seed_campaign(tenant, *, status=CampaignStatus.SENDING):
    campaign = CampaignFactory(
        tenant=tenant,
        name=f"Autumn sale {uuid.uuid4().hex[:4]}",
        status=status,
        variants=[{"body": "A: {{link}}", "percent": 50}, {"body": "B: {{link}}", "percent": 50}],
    )
    messages = []
    for n, _moves in enumerate(PATHS):
        contact = ContactFactory(tenant=tenant, phone_number=f"+1415556{campaign.pk % 10}{n:03d}")
        messages.append(
            MessageFactory(campaign=campaign, tenant=tenant, contact=contact, to=contact.phone_number, variant=n % 2)
        )
    counts_add(campaign_id=campaign.pk, deltas={S.PENDING: len(messages)})
    for n, (message, moves) in enumerate(zip(messages, PATHS, strict=True)):
        for to in moves:
            extra = {"sid": f"SM{message.pk:032x}"} if to == S.QUEUED else {}
            if n in RCS and to in (S.SENT, S.DELIVERED, S.READ):
                extra["channel"] = "rcs"
            if to in (S.FAILED, S.UNDELIVERED):
                extra["error_code"] = 30003 if to == S.UNDELIVERED else 21610
            assert message_move(message_id=message.pk, to=to, **extra)
    codes = short_links_create_for_messages(
        tenant=tenant,
        campaign_id=campaign.pk,
        target_url="https://shop.example/autumn",
        message_ids=[m.pk for m in messages],
    )
    clicks_record(
        events=[
            click_event(code=codes[messages[3].pk], user_agent=IPHONE, ip="203.0.113.9", method="GET"),
            click_event(code=codes[messages[3].pk], user_agent=IPHONE, ip="203.0.113.9", method="GET"),
            click_event(code=codes[messages[3].pk], user_agent="WhatsApp/2.23.20.0", ip="203.0.113.9", method="GET"),
            click_event(code=codes[messages[4].pk], user_agent=ANDROID, ip="198.51.100.7", method="GET"),
            click_event(code=codes[messages[5].pk], user_agent=DESKTOP, ip="192.0.2.44", method="GET"),
        ]
    )
    inbound_receive(
        tenant=tenant,
        params={"From": messages[4].to, "To": tenant.sender, "Body": "STOP", "MessageSid": f"SM{uuid.uuid4().hex}"},
    )
    return campaign, messages, codes


@pytest.fixture
def seeded(tenant_a, alice, tenant_b):
    campaign, messages, codes = _seed_campaign(tenant_a)
    theirs = CampaignFactory(tenant=tenant_b, name="Bob's launch", status=CampaignStatus.SENT)
    return {"campaign": campaign, "messages": messages, "codes": codes, "theirs": theirs}


def _login(page, live_server, user, next_url: str):
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={next_url}")
    page.fill("#id_username", user.email)
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "/login/" not in page.url, page.content()[:2000]


def page_errors(page) -> list[str]:
    """What the page reports going wrong, as it happens: console errors and uncaught exceptions."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _strict_csp(page, violations: list):
    """Serve the admin's pages with a strict CSP, and collect what it blocks (``window.__csp``, the console)."""

    def add_header(route):
        response = route.fetch(max_redirects=0)
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT_CSP})

    page.route("**/admin/**", add_header)
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)


KPIS_JS = """() => Object.fromEntries(
  [...document.querySelectorAll('[data-kpi]')].map(el => [el.dataset.kpi, Number(el.dataset.value)]))"""
INK_JS = """(name) => {
  const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
  if (!canvas || !window.Chart.getChart(canvas)) return -1;
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) ink++;
  return ink;
}"""


def _wait_refreshed(page, at_least: int = 1):
    page.wait_for_function(
        "(n) => Number(document.querySelector('.an-page').dataset.refreshes) >= n", arg=at_least, timeout=15_000
    )


def _expected_kpis(stats: dict) -> dict:
    delivered = stats["delivered"]
    return {
        "recipients": stats["recipients"],
        "sent": stats["sent"] + delivered + stats["undelivered"] + stats["failed"],
        "delivered": delivered,
        "read": stats["read"],
        "clicked": stats["unique_clicks"],
        "delivery_rate": stats["delivery_rate"],
        "click_rate": stats["click_rate"],
        "opt_out_rate": stats["opt_out_rate"],  # over recipients reached (docs/analytics.md)
    }


def test_dashboard_numbers_match_the_stats_api_and_charts_draw(page, live_server, alice, seeded):
    campaign = seeded["campaign"]
    violations: list[str] = []
    _strict_csp(page, violations)
    url = reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])
    _login(page, live_server, alice, url)
    assert page.url.endswith(url)
    # Again through the route that adds the CSP header (a redirect's target is not routed).
    assert page.goto(f"{live_server.url}{url}").headers["content-security-policy"] == STRICT_CSP
    _wait_refreshed(page)

    stats = page.evaluate(f"() => fetch('/api/v1/campaigns/{campaign.pk}/stats/').then(r => r.json())")
    # The seeded outcomes, by hand: 8 recipients, 1 suppressed, 1 failed at send, 1 undelivered,
    # 4 delivered, 1 still sent; 3 people clicked (4 human clicks), 1 bot; 1 STOP.
    assert {k: stats[k] for k in ("recipients", "suppressed", "failed", "undelivered", "delivered", "sent")} == {
        "recipients": 8,
        "suppressed": 1,
        "failed": 1,
        "undelivered": 1,
        "delivered": 4,
        "sent": 1,
    }
    assert (stats["clicks"], stats["unique_clicks"], stats["bot_hits"], stats["opt_outs"]) == (4, 3, 1, 1)
    assert (stats["read"], stats["read_rate"]) == (1, 0.5)  # 1 of the 2 sent over RCS; SMS reports no reads
    assert page.evaluate(KPIS_JS) == _expected_kpis(stats)
    # What a person reads, not only the data attributes.
    assert page.inner_text('[data-kpi="recipients"] .an-kpi-value') == "8"
    assert page.inner_text('[data-kpi="sent"] .an-kpi-value') == "7"
    assert page.inner_text('[data-kpi="click_rate"] .an-kpi-value') == "75.0%"
    assert page.inner_text('[data-kpi="opt_out_rate"] .an-kpi-value') == "25.0%"
    # Reads: the figure, its rate over the messages on channels that report reads, and which channels those are.
    assert page.is_visible('[data-kpi="read"]')
    assert page.inner_text('[data-kpi="read"] .an-kpi-value') == "1"
    assert page.inner_text('[data-kpi="read"] .an-kpi-sub') == "50.0% of 2 on RCS or WhatsApp"
    assert page.get_attribute('[data-kpi="read"]', "data-rate") == "0.5"
    assert page.is_visible('[data-field="read_note"]')
    assert "SMS and MMS never report reads" in page.inner_text('[data-field="read_note"]')
    assert page.get_attribute('[data-aside="suppressed"]', "data-value") == "1"
    assert page.get_attribute('[data-aside="opt_outs"]', "data-value") == "1"
    assert page.get_attribute('[data-field="bot_hits"]', "data-value") == "1"
    assert page.get_attribute('[data-funnel="clicked"]', "data-value") == "3"

    # Every chart is a Chart.js instance with ink on its canvas.
    assert page.evaluate("() => typeof window.Chart") == "function"
    for chart in ("timeline", "device", "os", "browser", "country", "bots", "errors", "variants"):
        assert page.evaluate(INK_JS, chart) > 100, chart
    assert page.is_hidden('[data-field="error"]'), page.inner_text('[data-field="error"]')

    # Failures by code, with what they mean, as the breakdown says.
    breakdown = page.evaluate(f"() => fetch('/api/v1/campaigns/{campaign.pk}/stats/breakdown/').then(r => r.json())")
    rows = page.eval_on_selector_all(
        '[data-table="errors"] tbody tr', "trs => trs.map(tr => [...tr.cells].map(td => td.innerText))"
    )
    assert rows == [[str(e["code"]), e["status"], str(e["count"]), e["description"]] for e in breakdown["error_codes"]]
    assert {r[0] for r in rows} == {"21610", "30003"}
    # The A/B panel: one card per variant, side by side, and the test's verdict.
    variants = page.evaluate(f"() => fetch('/api/v1/campaigns/{campaign.pk}/stats/variants/').then(r => r.json())")
    assert page.locator("[data-variant]").count() == 2
    assert page.inner_text('[data-field="verdict"]') == variants["test"]["verdict"]
    opted_out = page.eval_on_selector_all(
        "[data-variant] tr",
        "trs => trs.filter(tr => tr.cells[0].innerText === 'Opted out').map(tr => tr.cells[1].innerText)",
    )
    assert [cell.split(" · ")[0] for cell in opted_out] == [str(v["opt_outs"]) for v in variants["variants"]]
    assert sum(v["opt_outs"] for v in variants["variants"]) == stats["opt_outs"] == 1
    chart_labels = page.evaluate(
        "() => Chart.getChart(document.querySelector('canvas[data-chart=\"device\"]')).data.labels"
    )
    assert sorted(chart_labels) == sorted(r["value"].capitalize() for r in breakdown["device"] if r["clicks"])
    # The curve over time adds up to the totals: clicks and the STOP (opt-outs over time).
    timeline = page.evaluate(
        "() => Object.fromEntries(Chart.getChart(document.querySelector('canvas[data-chart=\"timeline\"]'))"
        ".data.datasets.map(d => [d.label, d.data.reduce((a, b) => a + b, 0)]))"
    )
    assert (timeline["Clicks (people)"], timeline["Opt-outs (STOP)"]) == (stats["clicks"], stats["opt_outs"])
    assert page.evaluate("() => window.__csp") == [] and violations == []


def test_dashboard_follows_new_clicks_without_a_reload(page, live_server, alice, seeded, settings, redis_url):
    """Clicks go through the real redirect (Redis capture) and the click writer; the open page catches up."""
    from links.writer import ClickWriter

    settings.REDIS_URL = redis_url
    settings.LINKS_CLICK_CAPTURE = "redis"
    settings.LINKS_REDIS_PREFIX = f"test-dash-{uuid.uuid4().hex[:10]}:"
    campaign, messages, codes = seeded["campaign"], seeded["messages"], seeded["codes"]
    url = reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk])
    _login(page, live_server, alice, url)
    _wait_refreshed(page)
    assert page.get_attribute("#campaign-dashboard", "data-live") == "on"
    before = page.evaluate(KPIS_JS)
    assert before["clicked"] == 3
    page.evaluate("() => { window.__notReloaded = true; }")

    # Two recipients who had not clicked tap their links; a link-preview bot fetches one of them too.
    for message, agent in ((messages[6], IPHONE), (messages[7], ANDROID), (messages[6], "Slackbot-LinkExpanding 1.0")):
        response = page.request.get(
            f"{live_server.url}/l/{codes[message.pk]}", headers={"User-Agent": agent}, max_redirects=0
        )
        assert response.status == 302, response.text()[:300]
    assert ClickWriter(consumer="dashboard-test").drain(time_budget=5.0) == 3

    page.wait_for_function(
        "() => Number(document.querySelector('[data-kpi=\"clicked\"]').dataset.value) === 5", timeout=15_000
    )
    after = page.evaluate(KPIS_JS)
    stats = page.evaluate(f"() => fetch('/api/v1/campaigns/{campaign.pk}/stats/').then(r => r.json())")
    assert after == _expected_kpis(stats)
    assert after["clicked"] == 5 and after["click_rate"] == round(5 / 4, 4)
    assert page.get_attribute('[data-field="bot_hits"]', "data-value") == "2"
    assert page.evaluate("() => window.__notReloaded") is True


def test_a_finished_campaign_stops_refreshing(page, live_server, alice, tenant_a):
    campaign = CampaignFactory(tenant=tenant_a, status=CampaignStatus.SENT)
    _login(page, live_server, alice, reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))
    _wait_refreshed(page)
    assert page.get_attribute("#campaign-dashboard", "data-live") == "off"
    # Nothing sent, no A/B test: empty panels say so, nothing failed to load.
    assert page.is_hidden('[data-field="error"]')
    assert page.is_visible('[data-panel="timeseries"] .an-empty')
    assert page.inner_text('[data-field="verdict"]') == "No A/B test: one message for everyone."
    page.wait_for_timeout(6_000)  # longer than one refresh period
    assert page.get_attribute("#campaign-dashboard", "data-refreshes") == "1"


def test_another_tenants_dashboard_is_404(page, live_server, alice, seeded):
    _login(page, live_server, alice, reverse("admin:index"))
    theirs = reverse("admin:campaigns_campaign_dashboard", args=[seeded["theirs"].pk])
    response = page.goto(f"{live_server.url}{theirs}")
    assert response.status == 404
    assert "Bob's launch" not in page.content()


def test_overview_renders_totals_table_and_chart(page, live_server, alice, seeded, tenant_a):
    finished, _, _ = _seed_campaign(tenant_a, status=CampaignStatus.SENT)
    _login(page, live_server, alice, reverse("admin:index"))
    page.click("#analytics-module a")  # the admin index links to it
    _wait_refreshed(page)
    overview = page.evaluate("() => fetch('/api/v1/stats/overview/?days=30').then(r => r.json())")
    kpis = page.evaluate(KPIS_JS)
    assert {k: kpis[k] for k in ("campaigns", "recipients", "delivered", "unique_clicks")} == {
        k: overview["totals"][k] for k in ("campaigns", "recipients", "delivered", "unique_clicks")
    }
    for key in ("delivery_rate", "click_rate", "opt_out_rate", "read_rate"):
        assert kpis[key] == overview["totals"][key]
    assert overview["totals"]["read_rate"] == 0.5  # 2 read of the 4 messages the two campaigns sent over RCS
    rows = page.locator('[data-table="campaigns"] tbody tr[data-campaign]')
    assert rows.count() == len(overview["campaigns"]) == 2
    ids = {int(rows.nth(i).get_attribute("data-campaign")) for i in range(rows.count())}
    assert ids == {seeded["campaign"].pk, finished.pk}  # Bob's campaign is not there
    assert "Bob's launch" not in page.content()
    assert page.evaluate(INK_JS, "overview") > 100
    # A row's name opens that campaign's dashboard.
    page.click(f'tr[data-campaign="{finished.pk}"] a')
    page.wait_for_url(f"**{reverse('admin:campaigns_campaign_dashboard', args=[finished.pk])}")
    _wait_refreshed(page)
    assert page.get_attribute("#campaign-dashboard", "data-live") == "off"
