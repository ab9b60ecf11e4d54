"""gunicorn's own log lines (its error log and access log) in the service's format.

``logger_class`` in ``gunicorn_conf``: gunicorn's Logger with the handlers it sets up given
``nsfw.observe.logs``'s formatter (JSON by default, ``NSFW_LOG_FORMAT=text`` for people),
and the access log written as fields rather than Apache's combined line. A request the app
logged itself (``nsfw.request``) gets no access line: one line per request. What never reached
the app (a malformed request, a timeout the worker answered) still does, with the path without
its query string (URLs to classify are passed in it, and URLs can carry secrets).
The app's own logger ("nsfw") is configured here too: it runs in the master, before the fork.
"""

from __future__ import annotations

from gunicorn import glogging

from nsfw.observe import logs
from nsfw.settings import Settings


class Logger(glogging.Logger):
    def setup(self, cfg):
        super().setup(cfg)
        settings = Settings.from_env()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.formatter(settings.log_format))
                handler.addFilter(logs.RequestIdFilter())
        logs.configure(settings.log_format, settings.log_level)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled or environ.get(logs.LOGGED):
            return  # the app's own line, richer, is this request's one line
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        request_id = None
        for name, value in getattr(resp, "headers", None) or ():
            if name.lower() == "x-request-id":
                request_id = value
                break
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "request_id": request_id,
                "remote_addr": environ.get("REMOTE_ADDR"),
                "method": method,
                "path": path,
                "status": int(status) if str(status).isdigit() else status,
                "bytes_out": getattr(resp, "sent", None),
                "duration_ms": round(request_time.total_seconds() * 1000.0, 3),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            },
        )
