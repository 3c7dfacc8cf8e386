"""escrow_0004, the service's own revision, after escrow_0002."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0004"
down_revision = "escrow_0003"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0004_stripe_loose")
