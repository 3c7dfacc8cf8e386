"""ledger_0006, the service's own revision, after ledger_0005."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0006"
down_revision = "ledger_0005"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0006_books")
