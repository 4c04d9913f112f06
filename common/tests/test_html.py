"""The off-site asset check the admin and docs tests lean on."""

from __future__ import annotations

from common.tests.html import off_site_assets


def test_a_token_that_spells_cdn_is_not_an_off_site_asset():
    html = (
        '<input type="hidden" name="csrfmiddlewaretoken" value="u2yrtdstnicdnlqza11">'
        '<script src="/static/campaigns/campaign_preview.js"></script>'
    )
    assert off_site_assets(html) == []


def test_scripts_styles_and_images_from_other_hosts_are_caught():
    html = (
        '<script src="https://cdn.jsdelivr.net/npm/chart.js"></script>'
        "<link rel='stylesheet' href='//unpkg.com/swagger-ui.css'>"
        '<IMG SRC="http://example.com/pixel.gif">'
        '<a href="https://example.com/help">help</a>'
        '<script src="/static/vendor/chartjs/chart.umd.min.js"></script>'
    )
    assert off_site_assets(html) == [
        "https://cdn.jsdelivr.net/npm/chart.js",
        "//unpkg.com/swagger-ui.css",
        "http://example.com/pixel.gif",
    ]
