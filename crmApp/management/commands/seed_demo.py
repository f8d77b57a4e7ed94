"""Demo data: two organizations with users, roles and a few hundred realistic CRM records.

Run `python manage.py seed_demo`. The command is idempotent: when the demo owner account already
exists it only prints the logins again. Everything is generated from a seeded random generator
(so two runs on an empty database produce the same records) and inserted with `bulk_create`,
which bypasses `Model.save()`: codes are reserved with `next_codes()` and a deal's
`expected_revenue` is computed here, exactly as `save()` would. Deals get the stage history the
deal services write (and the stage tallies built from it), so the reports, each deal's
`days_in_stage` and the rotting list show something from the start.
"""

import math
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from crmApp.models import (
    Customer,
    Deal,
    DealStageHistory,
    Employee,
    Lead,
    Organization,
    Pipeline,
    PipelineStage,
    Role,
    User,
    UserOrganization,
    UserRole,
    Vendor,
    next_codes,
)
from crmApp.models.deals import compute_expected_revenue
from crmApp.selectors.users import email_taken
from crmApp.services.organizations import organization_create
from crmApp.services.stage_tallies import stage_tallies_rebuild

#: Every demo account logs in with this password (documented in the README).
DEMO_PASSWORD = "CrmDemo-2026!Secure"
#: The marker: if this account exists, the demo data is already there.
MARKER_EMAIL = "owner@acme.example"
SEED = 20260101


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@dataclass(frozen=True)
class DemoAccount:
    email: str
    username: str
    first_name: str
    last_name: str
    role: str | None  # a system role slug, or None for the owner
    job_title: str
    department: str


@dataclass(frozen=True)
class DemoOrganization:
    name: str
    domain: str
    industry: str
    city: str
    country: str
    accounts: tuple[DemoAccount, ...]
    employees: int
    vendors: int
    customers: int
    leads: int
    deals: int


ACME = DemoOrganization(
    name="Acme Corp",
    domain="acme.example",
    industry="Manufacturing",
    city="Springfield",
    country="United States",
    accounts=(
        DemoAccount(
            "owner@acme.example", "acme-owner", "Olivia", "Owens", None, "CEO", "Executive"
        ),
        DemoAccount(
            "admin@acme.example",
            "acme-admin",
            "Adam",
            "Alvarez",
            "admin",
            "IT Administrator",
            "Operations",
        ),
        DemoAccount(
            "manager@acme.example",
            "acme-manager",
            "Mia",
            "Moreau",
            "manager",
            "Sales Manager",
            "Sales",
        ),
        DemoAccount(
            "sales@acme.example",
            "acme-sales",
            "Sam",
            "Silva",
            "sales",
            "Account Executive",
            "Sales",
        ),
        DemoAccount(
            "viewer@acme.example", "acme-viewer", "Vera", "Voss", "viewer", "Analyst", "Finance"
        ),
    ),
    employees=20,
    vendors=15,
    customers=300,
    leads=300,
    deals=150,
)
GLOBEX = DemoOrganization(
    name="Globex Inc",
    domain="globex.example",
    industry="Energy",
    city="Cypress Creek",
    country="United States",
    accounts=(
        DemoAccount(
            "owner@globex.example", "globex-owner", "Hank", "Scorpio", None, "CEO", "Executive"
        ),
    ),
    employees=8,
    vendors=5,
    customers=40,
    leads=40,
    deals=20,
)

FIRST_NAMES = words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Priya Wei Ahmed Fatima Lucas Sofia "
    "Mateo Yuki Noah Amara Liam Chloe Diego Hana Omar Elena Kofi Ingrid Ravi Zoe"
)
LAST_NAMES = words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Nguyen Patel Kim"
)
COMPANY_WORDS = words(
    "Blue Summit Northwind Pioneer Vertex Harbor Silver Maple Quantum Granite Apex Cedar "
    "Horizon Redwood Lumen Atlas Beacon Crescent Evergreen Falcon Keystone Meridian Orbit Prairie"
)
COMPANY_SUFFIXES = (
    "Labs",
    "Industries",
    "Systems",
    "Logistics",
    "Partners",
    "Group",
    "Foods",
    "Health",
    "Energy",
    "Retail",
    "Media",
    "Works",
)
INDUSTRIES = (
    "Technology",
    "Healthcare",
    "Retail",
    "Finance",
    "Manufacturing",
    "Logistics",
    "Education",
    "Hospitality",
    "Energy",
    "Construction",
)
CITIES = (
    ("New York", "NY", "United States"),
    ("Chicago", "IL", "United States"),
    ("Austin", "TX", "United States"),
    ("Seattle", "WA", "United States"),
    ("Toronto", "ON", "Canada"),
    ("London", None, "United Kingdom"),
    ("Berlin", None, "Germany"),
    ("Madrid", None, "Spain"),
    ("Sydney", "NSW", "Australia"),
)
DEPARTMENTS = {
    "Sales": ("Account Executive", "Sales Representative", "Sales Development Rep"),
    "Marketing": ("Marketing Specialist", "Content Writer", "Growth Analyst"),
    "Engineering": ("Software Engineer", "QA Engineer", "DevOps Engineer"),
    "Support": ("Support Specialist", "Customer Success Manager"),
    "Finance": ("Accountant", "Financial Analyst"),
    "Operations": ("Operations Coordinator", "Office Manager"),
}
VENDOR_NAMES = (
    "Office Depot Supply",
    "CloudHost Services",
    "Prime Logistics",
    "BrightPath Consulting",
    "Metro Cleaning Co",
    "SecureIT Contractors",
    "PaperTrail Printing",
    "Fresh Coffee Roasters",
    "DataVault Storage",
    "Summit Legal Advisors",
    "Rapid Couriers",
    "GreenLeaf Facilities",
    "Pixel Perfect Design",
    "TalentBridge Recruiting",
    "Northstar Insurance",
    "Ironclad Security",
    "Spark Electrical",
    "Bluewave Telecom",
    "Crystal Water Supply",
    "Keystone Accounting",
)
PAYMENT_TERMS = ("Net 15", "Net 30", "Net 45", "Net 60", "Due on receipt")
CUSTOMER_SOURCES = ("Website", "Referral", "Trade show", "Cold outreach", "Partner", "Advertising")
TAGS = ("vip", "enterprise", "smb", "renewal", "newsletter", "priority", "partner", "trial")
LOST_REASONS = ("Chose a competitor", "Budget cut", "No decision", "Timing", "Price too high")
DEAL_TITLES = (
    "Annual license",
    "Onboarding package",
    "Support contract",
    "Hardware refresh",
    "Consulting engagement",
    "Expansion",
    "Pilot project",
    "Renewal",
)

#: Days an open demo stage may hold a deal before it counts as rotting.
ROTTING_DAYS = 21
#: A demo stay in a stage the deal then left: 2 hours to 3 weeks, log-uniform (in hours).
STAY_HOURS = (2, 21 * 24)
PIPELINES = (
    (
        "Sales Pipeline",
        "Default pipeline for new business.",
        True,
        (
            ("Prospecting", 10, "open"),
            ("Qualification", 25, "open"),
            ("Proposal", 50, "open"),
            ("Negotiation", 75, "open"),
            ("Closed Won", 100, "won"),
            ("Closed Lost", 0, "lost"),
        ),
    ),
    (
        "Partnerships",
        "Channel and reseller agreements.",
        False,
        (
            ("Introduction", 10, "open"),
            ("Evaluation", 40, "open"),
            ("Contract", 70, "open"),
            ("Signed", 100, "won"),
            ("Declined", 0, "lost"),
        ),
    ),
)


@dataclass
class SeedResult:
    organizations: list[Organization] = field(default_factory=list)
    created: bool = False


#: Set to true to allow the demo data where DEBUG is off (a staging database, say), like --force.
FORCE_VARIABLE = "SEED_DEMO_FORCE"

REFUSAL = (
    "seed_demo writes demo organizations and accounts with a published password; DEBUG is off, "
    "so this looks like a production database ({database}). Refusing. Run it with --force (or "
    f"{FORCE_VARIABLE}=true) if this database really is meant to hold the demo data."
)


def _database_label() -> str:
    """The database's engine and name, never its host credentials."""
    settings_dict = connection.settings_dict
    return f"{connection.vendor} database {settings_dict.get('NAME')!s}"


class Command(BaseCommand):
    help = (
        "Create demo organizations, users and CRM records (idempotent). Refuses to run while "
        "DEBUG is off unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help=f"Seed even though DEBUG is off (same as {FORCE_VARIABLE}=true).",
        )

    def handle(self, *args, **options):
        forced = options["force"] or os.environ.get(FORCE_VARIABLE, "").lower() in (
            "1",
            "true",
            "yes",
        )
        if not settings.DEBUG and not forced:
            raise CommandError(REFUSAL.format(database=_database_label()))
        if email_taken(email=MARKER_EMAIL):
            self.stdout.write("Demo data already present; nothing added.")
        else:
            started = timezone.now()
            counts = seed_demo()
            elapsed = (timezone.now() - started).total_seconds()
            self.stdout.write(self.style.SUCCESS(f"Demo data created in {elapsed:.1f}s."))
            for name, row in counts.items():
                summary = ", ".join(f"{count} {label}" for label, count in row.items())
                self.stdout.write(f"  {name}: {summary}")
        self.stdout.write("Demo logins (POST /api/auth/login/), all with the same password:")
        for demo in (ACME, GLOBEX):
            for account in demo.accounts:
                role = account.role or "owner"
                self.stdout.write(f"  {account.email:<24} {role:<8} {demo.name}")
        self.stdout.write(f"  password: {DEMO_PASSWORD}")


@transaction.atomic
def seed_demo() -> dict[str, dict[str, int]]:
    """Create both demo organizations in one transaction (all or nothing)."""
    rng = random.Random(SEED)
    password = make_password(DEMO_PASSWORD)  # hashed once: hashing is the slow part
    return {demo.name: OrganizationSeeder(demo, rng, password).run() for demo in (ACME, GLOBEX)}


class OrganizationSeeder:
    def __init__(self, demo: DemoOrganization, rng: random.Random, password_hash: str):
        self.demo = demo
        self.rng = rng
        self.password_hash = password_hash
        self.now = timezone.now()
        self.today = self.now.date()

    def run(self) -> dict[str, int]:
        users = self.create_users()
        self.organization = organization_create(
            owner=users[0],
            name=self.demo.name,
            industry=self.demo.industry,
            email=f"hello@{self.demo.domain}",
            website=f"https://www.{self.demo.domain}",
            city=self.demo.city,
            country=self.demo.country,
            settings={"demo": True},
        )
        self.add_members(users)
        employees = self.create_employees(users)
        sales_team = [e for e in employees if e.department == "Sales"] or employees
        vendors = self.create_vendors()
        leads = self.create_leads(sales_team)
        customers = self.create_customers(sales_team, leads)
        stages = self.create_pipelines()
        deals = self.create_deals(customers, sales_team, stages)
        self.create_stage_history(deals, stages)
        return {
            "users": len(users),
            "employees": len(employees),
            "vendors": len(vendors),
            "customers": len(customers),
            "leads": len(leads),
            "pipelines": len(stages),
            "deals": len(deals),
        }

    # --- helpers ------------------------------------------------------------------------------

    def codes(self, model, count: int) -> list[str]:
        return next_codes(
            organization_id=self.organization.pk, prefix=model.CODE_PREFIX, count=count
        )

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)

    def company(self) -> str:
        return f"{self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_SUFFIXES)}"

    def phone(self) -> str:
        return f"+1 555 {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"

    def money(self, low: int, high: int, step: int = 100) -> Decimal:
        return Decimal(self.rng.randrange(low, high + 1, step)).quantize(Decimal("0.01"))

    def place(self) -> dict:
        city, state, country = self.rng.choice(CITIES)
        return {
            "address": f"{self.rng.randint(1, 999)} {self.rng.choice(COMPANY_WORDS)} Street",
            "city": city,
            "state": state,
            "country": country,
            "postal_code": f"{self.rng.randint(10000, 99999)}",
        }

    def days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    # --- users and memberships ----------------------------------------------------------------

    def create_users(self) -> list[User]:
        return User.objects.bulk_create(
            User(
                email=account.email,
                username=account.username,
                first_name=account.first_name,
                last_name=account.last_name,
                password=self.password_hash,
                # Demo addresses receive no mail: the accounts start verified, so they can be
                # added to each other's organizations and accept invitations.
                is_verified=True,
                email_verified_at=self.now,
            )
            for account in self.demo.accounts
        )

    def add_members(self, users: list[User]) -> None:
        owner = users[0]
        pairs = list(zip(self.demo.accounts[1:], users[1:], strict=True))
        UserOrganization.objects.bulk_create(
            UserOrganization(
                user=user,
                organization=self.organization,
                is_owner=False,
                invited_by=owner,
                invitation_accepted_at=self.now,
            )
            for _, user in pairs
        )
        roles = {role.slug: role for role in Role.objects.filter(organization=self.organization)}
        UserRole.objects.bulk_create(
            UserRole(
                user=user,
                role=roles[account.role],
                organization=self.organization,
                assigned_by=owner,
            )
            for account, user in pairs
            if account.role
        )

    # --- employees and vendors ----------------------------------------------------------------

    def create_employees(self, users: list[User]) -> list[Employee]:
        """A small org chart: the CEO, one head per department, staff reporting to their head.

        The demo accounts get employee records too: the owner is the CEO, the admin and the
        manager head their departments, the others are staff.
        """
        total = max(self.demo.employees, 1 + len(DEPARTMENTS))
        codes = iter(self.codes(Employee, total))
        emails: set[str] = set()

        def employee(first, last, department, job_title, *, manager=None, user=None, **extra):
            local, suffix = f"{first}.{last}".lower(), 1
            while f"{local}@{self.demo.domain}" in emails:
                suffix += 1
                local = f"{first}.{last}{suffix}".lower()
            emails.add(f"{local}@{self.demo.domain}")
            return Employee(
                organization=self.organization,
                code=next(codes),
                user=user,
                first_name=first,
                last_name=last,
                email=f"{local}@{self.demo.domain}",
                phone=self.phone(),
                department=department,
                job_title=job_title,
                hire_date=self.days_ago(60, 3000),
                manager=manager,
                salary=self.money(45_000, 160_000, 500),
                commission_rate=Decimal(self.rng.choice((2, 5, 8)))
                if department == "Sales"
                else None,
                **extra,
            )

        (owner, owner_user), *others = zip(self.demo.accounts, users, strict=True)
        (ceo,) = Employee.objects.bulk_create(
            [
                employee(
                    owner.first_name,
                    owner.last_name,
                    owner.department,
                    owner.job_title,
                    user=owner_user,
                )
            ]
        )
        leading = {a.department: (a, u) for a, u in others if a.role in ("admin", "manager")}
        heads = []
        for department in DEPARTMENTS:
            if department in leading:
                account, user = leading[department]
                first, last, title = account.first_name, account.last_name, account.job_title
            else:
                (first, last), title, user = self.person(), f"Head of {department}", None
            heads.append(employee(first, last, department, title, manager=ceo, user=user))
        heads = Employee.objects.bulk_create(heads)
        head_of = {head.department: head for head in heads}
        staff = [
            employee(
                account.first_name,
                account.last_name,
                account.department,
                account.job_title,
                manager=head_of[account.department],
                user=user,
            )
            for account, user in others
            if account.role not in ("admin", "manager")
        ]
        employment_types = ("full_time",) * 6 + ("part_time", "contract", "intern")
        while len(staff) < total - 1 - len(heads):
            head = self.rng.choice(heads)
            extra = {"employment_type": self.rng.choice(employment_types)}
            if self.rng.random() < 0.1:
                extra.update(status="inactive", termination_date=self.days_ago(1, 50))
            first, last = self.person()
            title = self.rng.choice(DEPARTMENTS[head.department])
            staff.append(employee(first, last, head.department, title, manager=head, **extra))
        return [ceo, *heads, *Employee.objects.bulk_create(staff)]

    def create_vendors(self) -> list[Vendor]:
        count = self.demo.vendors
        codes = self.codes(Vendor, count)
        names = self.rng.sample(VENDOR_NAMES, count)
        vendors = []
        for code, name in zip(codes, names, strict=True):
            first, last = self.person()
            slug = "".join(ch for ch in name.lower() if ch.isalnum())
            vendors.append(
                Vendor(
                    organization=self.organization,
                    code=code,
                    name=name,
                    vendor_type=self.rng.choice(
                        ("supplier", "supplier", "service_provider", "contractor", "consultant")
                    ),
                    contact_person=f"{first} {last}",
                    email=f"accounts@{slug}.example",
                    phone=self.phone(),
                    website=f"https://www.{slug}.example",
                    tax_id=f"TX-{self.rng.randint(100000, 999999)}",
                    payment_terms=self.rng.choice(PAYMENT_TERMS),
                    credit_limit=self.money(1_000, 50_000, 1_000),
                    status="inactive" if self.rng.random() < 0.15 else "active",
                    **self.place(),
                )
            )
        return Vendor.objects.bulk_create(vendors)

    # --- leads and customers ------------------------------------------------------------------

    def create_leads(self, sales_team: list[Employee]) -> list[Lead]:
        count = self.demo.leads
        codes = self.codes(Lead, count)
        statuses = ("new",) * 4 + ("contacted",) * 3 + ("qualified",) * 2 + ("unqualified", "lost")
        now = timezone.now()
        leads = []
        for number, code in enumerate(codes, start=1):
            first, last = self.person()
            converted = self.rng.random() < 0.1
            status = "converted" if converted else self.rng.choice(statuses)
            score_range = {"qualified": (60, 100), "unqualified": (0, 30), "lost": (0, 40)}
            low, high = score_range.get(status, (20, 95 if converted else 80))
            leads.append(
                Lead(
                    organization=self.organization,
                    code=code,
                    name=f"{first} {last}",
                    company=self.company(),
                    job_title=self.rng.choice(
                        ("CEO", "CTO", "Head of Sales", "Buyer", "Operations Manager", "Founder")
                    ),
                    email=f"{first}.{last}.{number}@leads.example".lower(),
                    phone=self.phone(),
                    source=self.rng.choice(Lead.Source.values),
                    qualification_status=status,
                    assigned_to=self.rng.choice(sales_team),
                    lead_score=self.rng.randint(low, high),
                    estimated_value=self.money(500, 120_000),
                    is_converted=converted,
                    converted_at=now - timedelta(days=self.rng.randint(1, 120))
                    if converted
                    else None,
                    converted_by=self.rng.choice(sales_team) if converted else None,
                    status="inactive" if status in ("lost", "unqualified") else "active",
                    tags=self.rng.sample(TAGS, self.rng.randint(0, 2)),
                    campaign=self.rng.choice((None, "Spring Promo", "Webinar Q2", "Trade Fair")),
                    **self.place(),
                )
            )
        return Lead.objects.bulk_create(leads)

    def create_customers(self, sales_team: list[Employee], leads: list[Lead]) -> list[Customer]:
        count = self.demo.customers
        codes = self.codes(Customer, count)
        converted = [lead for lead in leads if lead.is_converted]
        customers = []
        for number, code in enumerate(codes, start=1):
            lead = converted[number - 1] if number <= len(converted) else None
            business = lead is not None or self.rng.random() < 0.55
            first, last = self.person()
            company = lead.company if lead is not None else self.company()
            name = company if business else f"{first} {last}"
            customers.append(
                Customer(
                    organization=self.organization,
                    code=code,
                    name=name,
                    customer_type="business" if business else "individual",
                    company_name=company if business else None,
                    industry=self.rng.choice(INDUSTRIES) if business else None,
                    contact_person=f"{first} {last}" if business else None,
                    email=f"contact{number}@{name.lower().replace(' ', '')}.example",
                    phone=self.phone(),
                    website=f"https://{name.lower().replace(' ', '')}.example"
                    if business
                    else None,
                    assigned_to=self.rng.choice(sales_team),
                    credit_limit=self.money(0, 100_000, 1_000) if business else None,
                    payment_terms=self.rng.choice(PAYMENT_TERMS) if business else None,
                    source=self.rng.choice(CUSTOMER_SOURCES),
                    tags=self.rng.sample(TAGS, self.rng.randint(0, 3)),
                    status="inactive" if self.rng.random() < 0.12 else "active",
                    converted_from_lead=lead,
                    converted_at=lead.converted_at if lead is not None else None,
                    **self.place(),
                )
            )
        return Customer.objects.bulk_create(customers)

    # --- pipelines and deals ------------------------------------------------------------------

    def create_pipelines(self) -> dict[Pipeline, list[PipelineStage]]:
        codes = iter(self.codes(Pipeline, len(PIPELINES)))
        pipelines = Pipeline.objects.bulk_create(
            Pipeline(
                organization=self.organization,
                code=next(codes),
                name=name,
                description=description,
                is_default=is_default,
            )
            for name, description, is_default, _ in PIPELINES
        )
        stages = PipelineStage.objects.bulk_create(
            PipelineStage(
                pipeline=pipeline,
                name=name,
                order=order,
                probability=Decimal(probability),
                is_closed_won=kind == "won",
                is_closed_lost=kind == "lost",
                rotting_days=ROTTING_DAYS if kind == "open" else None,
            )
            for pipeline, (_, _, _, definitions) in zip(pipelines, PIPELINES, strict=True)
            for order, (name, probability, kind) in enumerate(definitions)
        )
        return {p: [s for s in stages if s.pipeline_id == p.pk] for p in pipelines}

    def create_deals(self, customers, sales_team, stages_by_pipeline) -> list[Deal]:
        count = self.demo.deals
        codes = self.codes(Deal, count)
        pipelines = list(stages_by_pipeline)
        deals = []
        for code in codes:
            pipeline = pipelines[0] if self.rng.random() < 0.8 else pipelines[1]
            stage = self.rng.choice(stages_by_pipeline[pipeline])
            customer = self.rng.choice(customers)
            value = self.money(1_000, 250_000)
            won, lost = stage.is_closed_won, stage.is_closed_lost
            closed = won or lost
            probability = Decimal(100 if won else 0) if closed else stage.probability
            deals.append(
                Deal(
                    organization=self.organization,
                    code=code,
                    title=f"{customer.name} - {self.rng.choice(DEAL_TITLES)}",
                    description="Demo deal.",
                    customer=customer,
                    pipeline=pipeline,
                    stage=stage,
                    assigned_to=self.rng.choice(sales_team),
                    value=value,
                    probability=probability,
                    expected_revenue=compute_expected_revenue(value, probability),
                    expected_close_date=self.today + timedelta(days=self.rng.randint(-30, 120)),
                    actual_close_date=self.days_ago(1, 90) if closed else None,
                    status="closed" if closed else "active",
                    priority=self.rng.choice(("low", "medium", "medium", "high", "urgent")),
                    is_won=won,
                    is_lost=lost,
                    lost_reason=self.rng.choice(LOST_REASONS) if lost else None,
                    source=self.rng.choice(CUSTOMER_SOURCES),
                    tags=self.rng.sample(TAGS, self.rng.randint(0, 2)),
                )
            )
        return Deal.objects.bulk_create(deals)

    def create_stage_history(self, deals: list[Deal], stages_by_pipeline) -> None:
        """The history the deal services would have written: each deal worked through the open
        stages before its own, a stay of 2 hours to 3 weeks each, then its stage (won and lost
        deals on their close date, with that outcome). Deals are dated from their first stay,
        and the stage tallies are built from the rows, so the reports, `days_in_stage` and the
        rotting list have something to show."""
        history = []
        low, high = (math.log(hours) for hours in STAY_HOURS)
        for deal in deals:
            stages = stages_by_pipeline[deal.pipeline]
            open_stages = [s for s in stages if not (s.is_closed_won or s.is_closed_lost)]
            if deal.is_won or deal.is_lost:
                worked = open_stages[: self.rng.randint(1, len(open_stages))]
                closed = datetime.combine(deal.actual_close_date, time(12), tzinfo=UTC)
                entered = min(closed, self.now - timedelta(hours=1))
                final = (
                    DealStageHistory.Outcome.WON if deal.is_won else DealStageHistory.Outcome.LOST
                )
            else:
                worked = open_stages[: open_stages.index(deal.stage)]
                entered = self.now - timedelta(hours=self.rng.uniform(1, 45 * 24))
                final = DealStageHistory.Outcome.OPEN
            rows = [(deal.stage, final, entered, None)]
            for stage in reversed(worked):
                left = entered
                entered = left - timedelta(hours=math.exp(self.rng.uniform(low, high)))
                rows.append((stage, DealStageHistory.Outcome.OPEN, entered, left))
            history += [
                DealStageHistory(
                    organization=self.organization,
                    deal=deal,
                    stage=stage,
                    outcome=outcome,
                    entered_at=entered_at,
                    left_at=left_at,
                )
                for stage, outcome, entered_at, left_at in reversed(rows)
            ]
            deal.created_at = entered
        DealStageHistory.objects.bulk_create(history)
        Deal.objects.bulk_update(deals, ["created_at"])
        stage_tallies_rebuild(organization_id=self.organization.pk)
