"""financing_backbone_0004: api_keys leaves for identity (today.upgrade_0004)."""

from tests.integration.backbone_per_service.today import downgrade_0004 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0004 as upgrade

revision = "financing_backbone_0004"
down_revision = "financing_backbone_0003"
branch_labels = None
depends_on = None

__all__ = ["downgrade", "upgrade"]
