"""What RQ imports by name: the job functions (`workers.jobs`). The worker process is `bridge.worker`."""
