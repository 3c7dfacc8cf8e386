"""escrow_backbone_0002: parked_subjects (today.upgrade_0002)."""

from tests.integration.backbone_per_service.today import downgrade_0002 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0002 as upgrade

revision = "escrow_backbone_0002"
down_revision = "escrow_0001"
branch_labels = ("escrow_backbone",)
depends_on = None

__all__ = ["downgrade", "upgrade"]
