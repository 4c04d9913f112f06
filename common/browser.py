"""Debian's Chromium, driven by Playwright: for the browser tests and the dashboard screenshots.

No browser is downloaded (``make browser`` installs Debian's package). The flags
keep it headless and quiet on a machine with no outside network: without the
background-networking ones it keeps trying Google's hosts.
"""

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
