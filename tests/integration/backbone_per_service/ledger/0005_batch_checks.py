"""ledger_0005, the service's own revision, after ledger_0004."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0005"
down_revision = "ledger_0004"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0005_batch_checks")
