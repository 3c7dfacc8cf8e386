"""ledger_0003, the service's own revision, after ledger_0002."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0003_reconciliation")
