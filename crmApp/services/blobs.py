"""Stored files (attachments, uploaded import files) in the configured `files` storage.

A blob is written before its row is committed and removed only after the row's deletion
commits, so a row never points at a missing blob; a rolled-back deletion keeps the file.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import IO

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction

HASH_CHUNK = 1024 * 1024


def files_storage() -> Storage:
    return storages["files"]


def blob_save(*, prefix: str, organization_id: int, file: IO[bytes]) -> tuple[str, str]:
    """Store `file` under a fresh random name; (the stored name, its SHA-256).

    The name never contains anything the client chose: no path tricks, no collisions.
    """
    digest = hashlib.sha256()
    file.seek(0)
    while chunk := file.read(HASH_CHUNK):
        digest.update(chunk)
    file.seek(0)
    name = f"{prefix}/{organization_id}/{uuid.uuid4().hex}"
    stored = files_storage().save(name, File(file, name=name))
    return stored, digest.hexdigest()


def blob_delete_now(name: str) -> None:
    files_storage().delete(name)


def blobs_delete_after_commit(names: Iterable[str]) -> None:
    """Remove the blobs once the current transaction commits (never if it rolls back)."""
    pending = [name for name in names if name]
    if not pending:
        return

    def remove() -> None:
        storage = files_storage()
        for name in pending:
            storage.delete(name)

    transaction.on_commit(remove, robust=True)
