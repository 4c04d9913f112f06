"""Who clicked: people on phones are people; previews, scanners, crawlers and HEAD are not."""

from __future__ import annotations

import pytest

from links.clickinfo import bot_reason_for, client_ip, country_for, ip_truncate, user_agent_info

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
INSTAGRAM_IN_APP = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 Instagram 320.0.2.28.108 (iPhone14,5; iOS 17_3; en_US; en; scale=3.00; 1170x2532; 567283389)"
)

PREVIEWS = {
    "imessage": "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
    "whatsapp": "WhatsApp/2.23.20.0 A",
    "whatsapp_ios": "WhatsApp/2.24.6.77 i",
    "slack": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "telegram": "TelegramBot (like TwitterBot)",
    "discord": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "twitter": "Twitterbot/1.0",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "google_pagerenderer": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google-PageRenderer Google "
        "(+https://developers.google.com/+/web/snippet/)) Chrome/56.0.2924.87 Safari/537.36"
    ),
}
SCANNERS = {
    "safe_links": "Mozilla/5.0 (compatible; Microsoft SafeLinks URL scanner)",
    "bingpreview": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) BingPreview/1.0b",
    "mimecast": "Mozilla/5.0 (compatible; Mimecast URL Protect)",
    "proofpoint": "Proofpoint URL Defense/1.0",
    "barracuda": "Mozilla/5.0 (compatible; Barracuda Sentinel link check)",
}
CRAWLERS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl": "curl/8.5.0",
    "python": "python-requests/2.31.0",
    "ahrefs": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
}


@pytest.mark.parametrize("name", PREVIEWS)
def test_link_previews_are_bots(name):
    info = user_agent_info(PREVIEWS[name])
    assert info.is_bot, name
    assert info.bot_reason.startswith("link preview"), info.bot_reason


@pytest.mark.parametrize("name", SCANNERS)
def test_link_scanners_are_bots(name):
    info = user_agent_info(SCANNERS[name])
    assert info.is_bot and info.bot_reason.startswith("link scanner"), info.bot_reason


@pytest.mark.parametrize("name", CRAWLERS)
def test_listed_crawlers_are_bots(name):
    assert user_agent_info(CRAWLERS[name]).is_bot, name


def test_head_and_empty_user_agent_are_bots():
    assert user_agent_info(IPHONE, "HEAD").bot_reason == "HEAD request"
    assert bot_reason_for("", "GET") == "no user agent"


def test_real_iphone_is_a_human_on_mobile_ios_safari():
    info = user_agent_info(IPHONE)
    assert not info.is_bot and info.bot_reason == ""
    assert (info.device_type, info.os_family, info.browser_family) == ("mobile", "iOS", "Mobile Safari")
    assert info.os_version == "17.4" and info.device_brand == "Apple"


def test_real_android_is_a_human_on_mobile_android_chrome():
    info = user_agent_info(ANDROID)
    assert not info.is_bot
    assert (info.device_type, info.os_family, info.browser_family) == ("mobile", "Android", "Chrome Mobile")


def test_in_app_browser_is_human():
    assert not user_agent_info(INSTAGRAM_IN_APP).is_bot


def test_tablets_and_desktops():
    assert user_agent_info(IPAD).device_type == "tablet"
    assert user_agent_info(ANDROID_TABLET).device_type == "tablet"
    desktop = user_agent_info(DESKTOP)
    assert (desktop.device_type, desktop.os_family, desktop.is_bot) == ("desktop", "Windows", False)


def test_country_from_the_offline_database():
    assert country_for("81.2.69.0") == "GB"
    assert country_for("8.8.8.0") == "US"
    assert country_for("10.1.2.3") == ""
    assert country_for("") == "" and country_for("not-an-ip") == ""


def test_ip_truncated_by_default_and_kept_whole_by_setting(settings):
    assert ip_truncate("81.2.69.160") == "81.2.69.0"
    assert ip_truncate("2001:db8:1234:5678::1") == "2001:db8:1234::"
    assert ip_truncate("garbage") == ""
    settings.LINKS_KEEP_FULL_IP = True
    assert ip_truncate("81.2.69.160") == "81.2.69.160"


def test_forwarded_for_ignored_without_a_trusted_proxy(settings):
    settings.LINKS_TRUSTED_PROXIES = []
    meta = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}
    assert client_ip(meta) == "203.0.113.9"


def test_forwarded_for_used_behind_a_trusted_proxy(settings):
    settings.LINKS_TRUSTED_PROXIES = ["10.0.0.0/8", "127.0.0.1"]
    # The left part is whatever the client claims; the right-most untrusted hop is the client.
    meta = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 81.2.69.160, 10.0.0.5"}
    assert client_ip(meta) == "81.2.69.160"
    # A peer that is not a trusted proxy cannot forge it.
    assert client_ip({"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}) == "203.0.113.9"
    assert client_ip({"REMOTE_ADDR": "127.0.0.1"}) == "127.0.0.1"
