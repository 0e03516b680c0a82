"""What the bridge tells its operator about itself: metrics, readiness, logs, error reports."""
