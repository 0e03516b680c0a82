"""The baselines the ingest benchmark serves on the Procfile's `web` line, in place of the bridge.

trivial  a Flask endpoint that reads the POST body and answers 200 JSON: the ceiling
naive    Stripe's `construct_event` and RQ's `Queue.enqueue`: what a first attempt would do
"""

from __future__ import annotations

import os

import stripe
from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue

trivial = Flask("trivial")


@trivial.post("/stripe/webhook")
def trivial_webhook():
    request.get_data()
    return jsonify(status="queued")


def naive() -> Flask:
    """The textbook handler: verify with the SDK, enqueue the event id with RQ, answer."""
    app = Flask("naive")
    queue = Queue("naive", connection=Redis.from_url(os.environ["REDIS_URL"]))
    secret = os.environ["STRIPE_WEBHOOK_SECRET"]

    @app.post("/stripe/webhook")
    def webhook():
        try:
            event = stripe.Webhook.construct_event(request.get_data(), request.headers.get("Stripe-Signature", ""), secret)
        except (ValueError, stripe.SignatureVerificationError):
            return jsonify(error="bad signature"), 400
        queue.enqueue("workers.jobs.deliver", event.id)
        return jsonify(status="queued")

    return app
