"""ledger_0010, the service's own revision, after ledger_0009."""

from tests.integration.backbone_per_service.today import borrow

revision = "ledger_0010"
down_revision = "ledger_0009"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("ledger", "0010_books_close")
