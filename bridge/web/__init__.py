"""The web process: the Flask app and its webhook routes (served by gunicorn)."""
