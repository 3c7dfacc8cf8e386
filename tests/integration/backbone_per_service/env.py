from tests.integration.backbone_per_service.today import run_env

run_env()
