"""ledger_0007, the service's own revision, after ledger_0006."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0007"
down_revision = "ledger_0006"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0007_stripe_books")
