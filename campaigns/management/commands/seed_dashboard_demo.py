"""Seed the analytics demo (``campaigns.demo_analytics``) and, with ``--screenshots``, shoot the two pages.

    DEBUG=1 .venv/bin/python manage.py seed_dashboard_demo --screenshots docs/img

The screenshots are taken by headless Chromium (Playwright, /usr/bin/chromium) against a server started in
this process on the same database, logged in as the demo tenant's admin.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from campaigns.demo_analytics import DEMO_CAMPAIGNS, demo_analytics_seed
from campaigns.models import Campaign
from common.browser import CHROMIUM, CHROMIUM_ARGS
from tenants.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Seed realistic demo campaigns for the analytics dashboard (and optionally take its screenshots)."

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Recipients per campaign, relative (1 = 1,400)")
        parser.add_argument("--screenshots", metavar="DIR", help="Write dashboard.png and overview.png here")
        parser.add_argument("--width", type=int, default=1400)

    def handle(self, *args, scale: float, screenshots: str | None, width: int, **opts):
        call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115 - the demo tenant and login
        tenant = Tenant.objects.get(slug="demo")
        old = Campaign.objects.filter(tenant=tenant, name__in=[c.name for c in DEMO_CAMPAIGNS])
        if old.exists():
            self.stdout.write(f"Replacing {old.count()} earlier demo campaigns")
            old.delete()
        campaigns = demo_analytics_seed(tenant=tenant, scale=scale)
        featured = campaigns[-1]
        dashboard = reverse("admin:campaigns_campaign_dashboard", args=[featured.pk])
        self.stdout.write(f"Seeded {len(campaigns)} campaigns for tenant {tenant.slug!r}")
        self.stdout.write(f"  Dashboard: {dashboard}  (login {DEMO_EMAIL} / {DEMO_PASSWORD})")
        self.stdout.write(f"  Overview:  {reverse('analytics-overview')}")
        if screenshots:
            self._shoot(Path(screenshots), dashboard=dashboard, width=width)

    def _shoot(self, folder: Path, *, dashboard: str, width: int) -> None:
        if not os.path.exists(CHROMIUM):
            raise CommandError(f"{CHROMIUM} is missing: make browser")
        from django.contrib.staticfiles.handlers import StaticFilesHandler
        from django.test.testcases import LiveServerThread
        from playwright.sync_api import sync_playwright

        folder.mkdir(parents=True, exist_ok=True)
        server = LiveServerThread("127.0.0.1", StaticFilesHandler)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        if server.error:
            raise CommandError(f"could not start a server: {server.error}")
        base = f"http://127.0.0.1:{server.port}"
        # Playwright's sync API keeps an event loop in this thread; the ORM is not used while it runs.
        os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        try:
            with sync_playwright() as playwright, tempfile.TemporaryDirectory():
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
                page = context.new_page()
                page.goto(f"{base}{reverse('admin:login')}")
                page.fill("#id_username", DEMO_EMAIL)
                page.fill("#id_password", DEMO_PASSWORD)
                with page.expect_navigation():
                    page.click("input[type=submit]")
                for name, path in (("dashboard", dashboard), ("overview", reverse("analytics-overview"))):
                    page.goto(f"{base}{path}")
                    page.wait_for_function("() => Number(document.querySelector('.an-page').dataset.refreshes) >= 1")
                    page.wait_for_timeout(300)
                    target = folder / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    self.stdout.write(f"  Wrote {target}")
                browser.close()
        finally:
            server.terminate()
