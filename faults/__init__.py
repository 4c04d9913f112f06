"""The fault suite: a private stack (PostgreSQL, Redis, Celery workers and beat, a Twilio-compatible
server), faults injected into it, and the check that every recipient got exactly one message.

``python -m faults`` runs every case and writes the figures into docs/reliability.md;
``pytest -m faults`` asserts them. See docs/reliability.md.
"""
