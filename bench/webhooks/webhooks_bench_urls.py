"""The project's URLs plus the benchmark's ceiling: a bare Django view doing one UPDATE by SID."""

from __future__ import annotations

from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from smscampaigns.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def ceiling(request):
    """What the status webhook cannot beat: read the form, one UPDATE by SID, 204."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE campaigns_message SET status = %s WHERE sid = %s",
            [request.POST["MessageStatus"], request.POST["MessageSid"]],
        )
    return HttpResponse(status=204)


urlpatterns = [path("bench/ceiling/", ceiling), *project_urlpatterns]
