"""The admin API under /api/v1: JSON in and out through marshmallow schemas, described by the
OpenAPI 3 document at /api/v1/openapi.json that flask-smorest builds from those same schemas.

Every route but the document itself needs `Authorization: Bearer $ADMIN_TOKEN` (`auth.py`). The
routes only translate HTTP to the service layer (`bridge.services`), which the CLI calls too.
"""
