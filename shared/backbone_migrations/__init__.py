"""The backbone's Alembic history: one branch, shared by every service database.

Every service database carries the backbone tables (outbox, inbox, timers, parked subjects,
idempotency keys; their definitions are in shared/db.py). Their revisions live once, in
versions/ here, on the branch labelled ``backbone`` (``backbone_0001`` .. ``backbone_0005``).
Each service's Alembic environment reads this folder as a second version location beside
its own ``migrations/versions`` (``shared.migrations.alembic_config``), and the service's
first revision depends on ``backbone_0001``, so ``upgrade heads`` brings both to their head.

The revisions spell their DDL out, so one released never changes when the table
definitions do. A new backbone revision goes here, after the branch's head, never into a
service.

Until this branch, each service carried a copy of these revisions under ids of its own
(``<svc>_0001``, then ``<svc>_backbone_0002`` .. ``_0005``), and service databases in use
hold those ids. ``shared.migrations.run_env`` renames them to the ones here before it
migrates: the same revisions, so nothing runs again (docs/operations.md, "Migrations").
"""
