"""Identity: the platform's API keys, in one database every service authenticates against.

Platform infrastructure like Kafka, not a business service: it owns ``<prefix>identity``
(its own Alembic history under ``migrations/``), and every service's API reads it on every
request, with no cache, so a key revoked or expired is refused everywhere on the next
request. Keys are stored as SHA-256 hashes beside a public id (``key_...``) and a
four-character hint; the key itself is shown once, when it is issued.
"""
