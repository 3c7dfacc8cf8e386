"""financing_0005, the service's own revision, after financing_0004."""

from tests.integration.backbone_per_service.today import borrow

revision = "financing_0005"
down_revision = "financing_0004"
branch_labels = None
depends_on = None

upgrade, downgrade = borrow("financing", "0005_fx")
