"""financing_backbone_0003: api_keys.party_id (today.upgrade_0003)."""

from tests.integration.backbone_per_service.today import downgrade_0003 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0003 as upgrade

revision = "financing_backbone_0003"
down_revision = "financing_backbone_0002"
branch_labels = None
depends_on = None

__all__ = ["downgrade", "upgrade"]
