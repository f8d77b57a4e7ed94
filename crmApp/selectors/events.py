"""Outbox event reads."""

from crmApp.models import Event
from crmApp.selectors.base import ResourceSelector


class EventSelector(ResourceSelector):
    model = Event
