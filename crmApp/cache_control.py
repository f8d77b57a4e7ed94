"""Cache-Control for the API's answers.

- An answer carrying tokens (login, refresh, password change, or any other with a token pair)
  is `no-store`: no cache, shared or private, may keep a copy of credentials.
- An answer to an authenticated caller is `private`: what it shows depends on who asks, so a
  shared cache (a proxy, a CDN) must never serve it to anyone else.

Which answers carry tokens is read from the answer itself (a `tokens` object or an
`access`/`refresh` pair), so a new endpoint that hands out tokens is covered without a list of
paths to keep in step.
"""

from django.utils.cache import patch_cache_control

TOKEN_KEYS = frozenset({"access", "refresh"})


def carries_tokens(response) -> bool:
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        return False
    return "tokens" in data or data.keys() >= TOKEN_KEYS


def is_authenticated(request) -> bool:
    # DRF authenticates inside the view (a JWT) and copies the user it found onto this request;
    # an Authorization header alone (even a refused one) also marks the answer as per caller.
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return True
    return "HTTP_AUTHORIZATION" in request.META


class CacheControlMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if carries_tokens(response):
            patch_cache_control(response, no_store=True)
        if is_authenticated(request):
            patch_cache_control(response, private=True)
        return response
