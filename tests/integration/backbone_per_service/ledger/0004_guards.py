"""ledger_0004, the service's own revision, after ledger_0003."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0004"
down_revision = "ledger_0003"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0004_guards")
