"""escrow_0003, the service's own revision, after escrow_0002."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0003"
down_revision = "escrow_0002"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0003_platform_data")
