"""factory_boy factories; tenant-owned factories take an organization sub-factory."""

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from crmApp import models
from crmApp.services.organizations import organization_setup_rbac, unique_slug

DEFAULT_PASSWORD = "Sturdy-Passw0rd!"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = models.User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.Sequence(lambda n: f"user{n}")
    # Most accounts in the tests have proved their address; tests of unverified accounts pass
    # `email_verified_at=None`.
    email_verified_at = factory.LazyFunction(timezone.now)
    is_verified = True
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def persist_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(DjangoModelFactory):
    """An organization with its permissions and system roles (as the API creates them)."""

    class Meta:
        model = models.Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.LazyAttribute(
        lambda o: unique_slug(
            name=o.name, taken=lambda s: models.Organization.objects.filter(slug=s).exists()
        )
    )

    @factory.post_generation
    def rbac(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            organization_setup_rbac(organization=obj)


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = models.UserOrganization

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    is_active = True
    is_owner = False


class EmployeeFactory(DjangoModelFactory):
    class Meta:
        model = models.Employee

    organization = factory.SubFactory(OrganizationFactory)
    first_name = factory.Sequence(lambda n: f"First{n}")
    last_name = factory.Sequence(lambda n: f"Last{n}")
    email = factory.Sequence(lambda n: f"employee{n}@example.com")
    department = "Sales"


class VendorFactory(DjangoModelFactory):
    class Meta:
        model = models.Vendor

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Vendor {n}")
    email = factory.Sequence(lambda n: f"vendor{n}@example.com")


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = models.Customer

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Customer {n}")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = models.Lead

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Lead {n}")
    email = factory.Sequence(lambda n: f"lead{n}@example.com")
    company = factory.Sequence(lambda n: f"Company {n}")


class PipelineFactory(DjangoModelFactory):
    class Meta:
        model = models.Pipeline

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Pipeline {n}")


class PipelineStageFactory(DjangoModelFactory):
    class Meta:
        model = models.PipelineStage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)
    probability = 10


class DealFactory(DjangoModelFactory):
    class Meta:
        model = models.Deal

    organization = factory.SubFactory(OrganizationFactory)
    title = factory.Sequence(lambda n: f"Deal {n}")
    customer = factory.SubFactory(
        CustomerFactory, organization=factory.SelfAttribute("..organization")
    )
    pipeline = factory.SubFactory(
        PipelineFactory, organization=factory.SelfAttribute("..organization")
    )
    stage = factory.SubFactory(PipelineStageFactory, pipeline=factory.SelfAttribute("..pipeline"))
    value = 1000
    probability = 10
