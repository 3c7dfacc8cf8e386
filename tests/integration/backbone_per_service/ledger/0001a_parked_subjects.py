"""ledger_backbone_0002: parked_subjects (today.upgrade_0002)."""

from tests.integration.backbone_per_service.today import downgrade_0002 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0002 as upgrade

revision = "ledger_backbone_0002"
down_revision = "ledger_0001"
branch_labels = ("ledger_backbone",)
depends_on = None

__all__ = ["downgrade", "upgrade"]
