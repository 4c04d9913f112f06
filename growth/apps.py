from django.apps import AppConfig


class GrowthConfig(AppConfig):
    name = "growth"
    verbose_name = "List growth"

    def ready(self) -> None:
        # compliance.inbound answers the tenant's keywords through this handler (compliance never imports growth).
        from compliance.keyword_hooks import keyword_handler_register

        from .handler import KEYWORDS

        keyword_handler_register(KEYWORDS)
