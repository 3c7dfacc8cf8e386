"""escrow_0007, the service's own revision, after escrow_0006."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0007"
down_revision = "escrow_0006"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0007_platform_gaps")
