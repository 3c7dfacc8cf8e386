"""ledger_0009, the service's own revision, after ledger_0008."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0009"
down_revision = "ledger_0008"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0009_fx")
