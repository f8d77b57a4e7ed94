"""A real password hasher that counts its work, so tests can see when a hash was skipped."""

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingMD5PasswordHasher(MD5PasswordHasher):
    """The suite's MD5 hasher (same algorithm name, so stored hashes verify), counting calls."""

    calls = 0

    def encode(self, password, salt):
        CountingMD5PasswordHasher.calls += 1
        return super().encode(password, salt)
