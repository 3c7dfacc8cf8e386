"""ledger_0002, the service's own revision, after ledger_0001."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0002_journal")
