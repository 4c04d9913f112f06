"""gunicorn's logger (``logger_class`` in ``gunicorn.conf.py``): its access and error lines go through the
same scrubbing as the app's logs (``common.logging``) and come out in the same format (``LOG_FORMAT``).

gunicorn writes its access lines itself, from the raw request line (``%(r)s``, query string included) and
the referer, so the filter sits on its two loggers, whichever handlers they get. In JSON an access line also
carries its parts as fields (method, path, status, bytes, duration), each scrubbed like the line.
"""

from __future__ import annotations

import os
import traceback

from gunicorn import glogging

from .logging import RedactingFilter, formatter_for, log_format, scrub


class GunicornLogger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        self.log_format = log_format(os.environ)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())
            if self.log_format == "json":
                for handler in log.handlers:
                    handler.setFormatter(formatter_for("json"))

    def access(self, resp, req, environ, request_time) -> None:
        if self.log_format != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        query = atoms.get("q") or ""
        status = str(atoms.get("s") or "")
        fields = {
            "remote_addr": atoms.get("h"),
            "method": atoms.get("m"),
            "path": scrub(atoms.get("U") or ""),
            "query": scrub("?" + query)[1:] if query else "",
            "status": int(status) if status.isdigit() else status,
            "bytes": atoms.get("B"),
            "duration_ms": atoms.get("M"),
            "user_agent": atoms.get("a"),
        }
        try:
            self.access_log.info(self.cfg.access_log_format, self.atoms_wrapper_class(atoms), extra=fields)
        except Exception:  # noqa: BLE001 - gunicorn's own rule: a bad access line never fails the request
            self.error(traceback.format_exc())
