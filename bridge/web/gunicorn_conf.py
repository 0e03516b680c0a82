"""gunicorn's settings for the Procfile's `web` line (`--config python:bridge.web.gunicorn_conf`)."""

logger_class = "bridge.observability.gunicorn_logger.GunicornLogger"
"""gunicorn's own lines in the same format as the app's (LOG_FORMAT)."""
