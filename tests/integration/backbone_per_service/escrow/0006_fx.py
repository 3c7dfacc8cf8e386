"""escrow_0006, the service's own revision, after escrow_0005."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0006"
down_revision = "escrow_0005"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0006_fx")
