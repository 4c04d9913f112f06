"""The tenant keywords' handler that ``compliance.inbound`` calls (registered in ``GrowthConfig.ready``)."""

from __future__ import annotations

from .models import Keyword
from .selectors import keyword_for_text
from .services import keyword_act


class _Keywords:
    def match(self, *, tenant, text: str) -> str | None:
        found = keyword_for_text(tenant=tenant, text=text)
        return found.word if found is not None else None

    def act(self, *, tenant, cfg, inbound) -> str | None:
        keyword = Keyword.objects.filter(tenant=tenant, word=inbound.keyword, active=True).first()
        if keyword is None:  # deactivated between match and act: a plain reply after all
            return None
        keyword.tenant = tenant
        return keyword_act(keyword=keyword, cfg=cfg, inbound=inbound)


KEYWORDS = _Keywords()
