"""The project's URLs plus `/bench/bare`, the ceiling `bench webhooks` compares against."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as project_urlpatterns


@login_not_required
@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    """Through the same middleware as the webhook, doing nothing: Django's own cost."""
    return JsonResponse({"received": True})


urlpatterns = [path("bench/bare", bare), *project_urlpatterns]
