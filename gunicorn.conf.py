"""gunicorn's settings: read from the working directory by `gunicorn smscampaigns.wsgi` (the Dockerfile and
docker-compose.yml start it from the repository root), or named with `--config gunicorn.conf.py`.

Logging only; the command line keeps the rest (bind, workers, whether to write access lines). Access and
error lines are scrubbed like the app's own logs (no query-string values, no phone numbers or email
addresses; common/logging.py) and written as JSON or plain text, as ``LOG_FORMAT`` says (docs/operations.md,
Logs).
"""

logger_class = "common.access_log.GunicornLogger"
# Apache's combined format plus the time taken. The request line (%(r)s) and the referer (%(f)s) hold query
# strings: the logger class scrubs the finished line, keeping the keys and dropping the values.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
