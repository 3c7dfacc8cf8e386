"""financing_0003, the service's own revision, after financing_0002."""

from tests.integration.backbone_per_service.today import borrow

revision = "financing_0003"
down_revision = "financing_0002"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("financing", "0003_platform_data")
