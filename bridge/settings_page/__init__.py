"""The merchant's settings page at /admin: its own Flask app (`app.create_page_app`), mounted beside
the webhooks, on the same service layer as the CLI and the admin API."""
