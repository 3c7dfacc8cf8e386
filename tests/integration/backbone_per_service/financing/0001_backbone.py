"""financing_0001: the backbone tables, from the table definitions of the day (today.upgrade_0001)."""

from tests.integration.backbone_per_service.today import downgrade_0001 as downgrade
from tests.integration.backbone_per_service.today import upgrade_0001 as upgrade

revision = "financing_0001"
down_revision = None
branch_labels = None
depends_on = None

__all__ = ["downgrade", "upgrade"]
