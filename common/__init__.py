"""What every app shares and nothing app-specific: database helpers (``db``), the streamed CSV writer
(``csv_stream``), query-string, JSON and body-size guards (``params``, ``parsers``, ``middleware``), the API's
error handler (``exceptions``), the health check (``health``), logs without personal data (``logging``, and
``access_log`` for gunicorn), the webhooks' rate per address (``webhook_throttle``) and the browser driver for
screenshots (``browser``).
It imports no app; the project shell (``smscampaigns``) is only settings, URLs, Celery and WSGI/ASGI."""
