"""ledger_0008, the service's own revision, after ledger_0007."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0008"
down_revision = "ledger_0007"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0008_break_workflow")
