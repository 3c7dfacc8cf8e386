"""escrow_0005, the service's own revision, after escrow_0003."""

from tests.integration.backbone_per_service.today import borrow

revision = "escrow_0005"
down_revision = "escrow_0004"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("escrow", "0005_disputes_flow")
