"""escrow_0002, the service's own revision, after escrow_0001."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0002"
down_revision = "escrow_0001"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0002_escrows")
