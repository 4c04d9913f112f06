from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inbox"

    def ready(self) -> None:
        # The sender asks, for a direct carrier's messages, which may go outside quiet hours (an answer inside a
        # conversation the recipient started, when the tenant allows it). The question is registered from here:
        # campaigns.sending never imports the inbox (.importlinter).
        from campaigns.sending.dispatch import quiet_hours_exemption_register

        from .selectors import replies_quiet_hours_exempt

        quiet_hours_exemption_register(replies_quiet_hours_exempt)
