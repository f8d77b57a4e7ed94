"""Seed a benchmark data set: one big organization (plus a few small ones) at realistic scale.

Rows are generated in Python and written in batches: with PostgreSQL through `COPY ... FROM STDIN`
(about ten times faster than INSERTs, 1M customers in well under a minute), elsewhere with
`bulk_create`. Codes are reserved in one block per table with `next_codes`, so the per-organization
counters stay right and the API keeps numbering after the seeded rows. Every deal gets the open
stage-history row the deal services would have written, and the stage tallies are built from
them, so a move reads and writes history at the tenant's real size. Afterwards the tables are
vacuumed and analysed on PostgreSQL, so the planner has statistics and counts can use index-only
scans, as they would on a long-lived database.

The command exists only while the crmBench app is installed (BENCH_ENDPOINTS on): a production
`manage.py` cannot fill a database with benchmark rows and a known owner password.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from crmApp.models import (
    Customer,
    Deal,
    DealStageHistory,
    Employee,
    Lead,
    OpenStayTally,
    Organization,
    Pipeline,
    PipelineStage,
    StageEntryTally,
    StayTally,
    User,
    next_codes,
)
from crmApp.models.deals import compute_expected_revenue
from crmApp.selectors.users import user_by_email
from crmApp.services.organizations import organization_create
from crmApp.services.stage_tallies import stage_tallies_rebuild


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: What the deal services keep from the stage history (built here after the bulk load).
TALLIES = (StageEntryTally, StayTally, OpenStayTally)
BENCH_EMAIL = "bench-owner@bench.example.com"
BENCH_PASSWORD = "Bench-Passw0rd!"
BIG_ORGANIZATION = "Bench Big Co"

FIRST_NAMES = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David "
    "Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew "
    "Lisa Anthony Betty Mark Margaret Donald Sandra Steven Ashley Paul Kimberly Andrew "
    "Emily Joshua Donna Kenneth Michelle Kevin Dorothy Brian Carol George Amanda Timothy "
    "Melissa Ronald Deborah"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
    "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright "
    "Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
    "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins "
    "Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez "
    "Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel "
    "Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman "
    "Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson "
    "Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant "
    "Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens "
    "Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman "
    "Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva "
    "Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd "
    "Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols "
    "Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold "
    "Pierce Vazquez Hansen Peters Santos Hart Bradley Knight"
)
COMPANY_WORDS = _words(
    "Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Wonka Tyrell Cyberdyne "
    "Soylent Massive Dynamic Aperture Oscorp Nakatomi Gringotts Monarch Duff Krusty Sirius "
    "Virtucon Zorg Ollivander Pied Piper Dunder Mifflin Prestige Worldwide Vehement "
    "Capital Bluth Sterling"
)
COMPANY_SUFFIXES = ("Inc", "LLC", "Ltd", "GmbH", "Group", "Partners", "Labs", "Systems")
INDUSTRIES = ("Software", "Retail", "Finance", "Health", "Logistics", "Energy", "Media", "Food")
JOB_TITLES = ("CEO", "CTO", "Buyer", "Head of Sales", "Engineer", "Analyst", "Founder", "COO")
STAGES = (
    # name, probability, won, lost
    ("Prospecting", Decimal("10.00"), False, False),
    ("Qualification", Decimal("25.00"), False, False),
    ("Proposal", Decimal("50.00"), False, False),
    ("Negotiation", Decimal("75.00"), False, False),
    ("Closed Won", Decimal("100.00"), True, False),
    ("Closed Lost", Decimal("0.00"), False, True),
)
LEAD_SOURCES = [value for value, _ in Lead.Source.choices]
QUALIFICATIONS = ["new", "contacted", "qualified", "unqualified"]
PRIORITIES = [value for value, _ in Deal.Priority.choices]

CUSTOMER_COLUMNS = (
    "organization_id",
    "code",
    "name",
    "customer_type",
    "company_name",
    "industry",
    "email",
    "phone",
    "assigned_to_id",
    "credit_limit",
    "source",
    "tags",
    "status",
    "city",
    "country",
    "created_at",
    "updated_at",
)
LEAD_COLUMNS = (
    "organization_id",
    "code",
    "name",
    "company",
    "job_title",
    "email",
    "phone",
    "status",
    "source",
    "qualification_status",
    "assigned_to_id",
    "lead_score",
    "estimated_value",
    "is_converted",
    "tags",
    "created_at",
    "updated_at",
)
DEAL_COLUMNS = (
    "organization_id",
    "code",
    "title",
    "customer_id",
    "pipeline_id",
    "stage_id",
    "assigned_to_id",
    "value",
    "currency",
    "probability",
    "expected_revenue",
    "expected_close_date",
    "status",
    "priority",
    "is_won",
    "is_lost",
    "tags",
    "created_at",
    "updated_at",
)


def _codes(organization_id: int, prefix: str, count: int) -> list[str]:
    """Reserve the codes up front: no query may run on the connection while a COPY is open."""
    return next_codes(organization_id=organization_id, prefix=prefix, count=count) if count else []


class Command(BaseCommand):
    help = "Seed one big organization (and a few small ones) with bulk inserts, for benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=10_000)
        parser.add_argument("--leads", type=int, default=None, help="default: customers / 5")
        parser.add_argument("--deals", type=int, default=None, help="default: customers / 10")
        parser.add_argument("--employees", type=int, default=25)
        parser.add_argument("--small-organizations", type=int, default=3)
        parser.add_argument("--small-rows", type=int, default=40, help="rows per small org")
        parser.add_argument("--batch-size", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=42, help="random seed (reproducible)")
        parser.add_argument("--email", default=BENCH_EMAIL)
        parser.add_argument("--password", default=BENCH_PASSWORD)
        parser.add_argument("--info-file", default="", help="write ids for the runner (JSON)")
        parser.add_argument("--no-vacuum", action="store_true")

    def handle(self, *args, **options) -> None:
        started = time.perf_counter()
        rng = random.Random(options["seed"])
        customers = options["customers"]
        leads = options["leads"] if options["leads"] is not None else customers // 5
        deals = options["deals"] if options["deals"] is not None else customers // 10
        batch = max(1, options["batch_size"])

        owner = self._user(options["email"], options["password"])
        big = organization_create(owner=owner, name=BIG_ORGANIZATION)
        info = self._populate(big, rng, customers, leads, deals, options["employees"], batch)
        for number in range(options["small_organizations"]):
            small_owner = self._user(f"bench-small-{big.pk}-{number}@bench.example.com", None)
            small = organization_create(owner=small_owner, name=f"Bench Small {number + 1}")
            rows = options["small_rows"]
            self._populate(small, rng, rows, rows, rows, 3, batch)
        if connection.vendor == "postgresql" and not options["no_vacuum"]:
            # VACUUM cannot run in a transaction (e.g. under a test); ANALYZE alone can.
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with connection.cursor() as cursor:
                for model in (Customer, Lead, Deal, Employee, DealStageHistory, *TALLIES):
                    cursor.execute(f"{command} {model._meta.db_table}")

        info.update(email=options["email"], password=options["password"], organization=big.pk)
        if options["info_file"]:
            with open(options["info_file"], "w") as handle:
                json.dump(info, handle, indent=2)
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"Seeded organization {big.pk} ({BIG_ORGANIZATION}): {customers} customers, "
            f"{leads} leads, {deals} deals in {elapsed:.1f}s"
        )
        self.stdout.write(
            f"Benchmark login: email={options['email']} password={options['password']} "
            f"(owner of organization {big.pk})"
        )

    # --- building blocks ------------------------------------------------------------------

    def _user(self, email: str, password: str | None) -> User:
        user = user_by_email(email=email)
        if user is None:
            username = email.split("@")[0][:100]
            user = User.objects.create_user(email=email, username=username, password=password)
        elif password is not None and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _populate(
        self,
        organization: Organization,
        rng: random.Random,
        customers: int,
        leads: int,
        deals: int,
        employees: int,
        batch: int,
    ) -> dict:
        org_id = organization.pk
        employee_ids = self._employees(organization, rng, employees)
        pipeline, stages = self._pipeline(organization)
        now = timezone.now()

        def stamp(index: int, total: int):
            return now - timedelta(seconds=(total - index) * 5)

        customer_ids = self._insert(
            Customer,
            CUSTOMER_COLUMNS,
            self._customer_rows(org_id, rng, _codes(org_id, "CUS", customers), employee_ids, stamp),
            customers,
            batch,
        )
        lead_ids = self._insert(
            Lead,
            LEAD_COLUMNS,
            self._lead_rows(org_id, rng, _codes(org_id, "LEAD", leads), employee_ids, stamp),
            leads,
            batch,
        )
        deal_ids = self._insert(
            Deal,
            DEAL_COLUMNS,
            self._deal_rows(
                org_id,
                rng,
                _codes(org_id, "DEAL", deals),
                customer_ids,
                pipeline,
                stages,
                employee_ids,
                stamp,
            ),
            deals,
            batch,
        )
        self._open_stays(org_id)
        return {
            "customer_ids": [customer_ids[0], customer_ids[1]] if customers else [],
            "lead_ids": [lead_ids[0], lead_ids[1]] if leads else [],
            "deal_ids": [deal_ids[0], deal_ids[1]] if deals else [],
            "open_deal_ids": [deal_ids[0], deal_ids[0] + deals * 4 // 5 - 1] if deals else [],
            "pipeline": pipeline.pk,
            "stages": [stage.pk for stage in stages],
            "employees": employee_ids,
            "search": LAST_NAMES[7].lower(),
        }

    def _open_stays(self, org_id: int) -> None:
        """Each deal's open history row, entered when the deal was created (of its outcome, as
        the services write a won or lost deal's), then the stage tallies of that history."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {DealStageHistory._meta.db_table} "
                "(organization_id, deal_id, stage_id, outcome, entered_at) "
                "SELECT organization_id, id, stage_id, CASE WHEN is_won THEN 'won' "
                "WHEN is_lost THEN 'lost' ELSE 'open' END, created_at "
                f"FROM {Deal._meta.db_table} WHERE organization_id = %s",
                [org_id],
            )
        stage_tallies_rebuild(organization_id=org_id)

    def _employees(self, organization: Organization, rng: random.Random, count: int) -> list[int]:
        codes = next_codes(organization_id=organization.pk, prefix="EMP", count=count)
        rows = [
            Employee(
                organization=organization,
                code=code,
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                email=f"employee{index}.{organization.pk}@bench.example.com",
                department=rng.choice(("Sales", "Support", "Marketing")),
                job_title="Account Executive",
            )
            for index, code in enumerate(codes)
        ]
        return [employee.pk for employee in Employee.objects.bulk_create(rows)]

    def _pipeline(self, organization: Organization) -> tuple[Pipeline, list[PipelineStage]]:
        pipeline = Pipeline.objects.filter(organization=organization, is_default=True).first()
        if pipeline is None:
            pipeline = Pipeline.objects.create(
                organization=organization, name="Sales", is_default=True
            )
        stages = [
            PipelineStage.objects.get_or_create(
                pipeline=pipeline,
                name=name,
                defaults={
                    "order": order,
                    "probability": probability,
                    "is_closed_won": won,
                    "is_closed_lost": lost,
                },
            )[0]
            for order, (name, probability, won, lost) in enumerate(STAGES, start=1)
        ]
        return pipeline, stages

    def _insert(
        self, model, columns: Sequence[str], rows: Iterator[tuple], total: int, batch: int
    ) -> tuple[int, int]:
        """Insert `total` rows; answer the (first, last) id inserted."""
        if total <= 0:
            return (0, 0)
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            before = cursor.fetchone()[0]
        with transaction.atomic():
            if connection.vendor == "postgresql":
                self._copy(table, columns, rows)
            else:
                self._bulk_create(model, columns, rows, batch)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN(id), MAX(id) FROM {table} WHERE id > %s", [before])
            first, last = cursor.fetchone()
        self.stdout.write(f"  {table}: {total} rows")
        return (first, last)

    def _copy(self, table: str, columns: Sequence[str], rows: Iterator[tuple]) -> None:
        names = ", ".join(columns)
        tags = columns.index("tags")
        sql = f"COPY {table} ({names}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                row = list(row)
                row[tags] = json.dumps(row[tags])
                copy.write_row(row)

    def _bulk_create(self, model, columns: Sequence[str], rows: Iterator[tuple], batch: int):
        chunk = []
        for row in rows:
            chunk.append(model(**dict(zip(columns, row, strict=True))))
            if len(chunk) >= batch:
                model.objects.bulk_create(chunk)
                chunk = []
        if chunk:
            model.objects.bulk_create(chunk)

    # --- rows -------------------------------------------------------------------------------

    def _customer_rows(
        self,
        org_id: int,
        rng: random.Random,
        codes: list[str],
        employees: list[int],
        stamp: Callable,
    ) -> Iterator[tuple]:
        total = len(codes)
        for index, code in enumerate(codes):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            business = index % 3 == 0
            company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}"
            created = stamp(index, total)
            yield (
                org_id,
                code,
                f"{first} {last}",
                "business" if business else "individual",
                company if business else None,
                rng.choice(INDUSTRIES),
                f"{first.lower()}.{last.lower()}{index}@example.com",
                f"+1555{index:07d}",
                rng.choice(employees) if employees and index % 4 else None,
                Decimal(rng.randrange(0, 100_000)),
                "bench",
                [],
                "inactive" if index % 10 == 0 else "active",
                "Springfield",
                "US",
                created,
                created,
            )

    def _lead_rows(
        self,
        org_id: int,
        rng: random.Random,
        codes: list[str],
        employees: list[int],
        stamp: Callable,
    ) -> Iterator[tuple]:
        total = len(codes)
        for index, code in enumerate(codes):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = stamp(index, total)
            yield (
                org_id,
                code,
                f"{first} {last}",
                f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}",
                rng.choice(JOB_TITLES),
                f"{first.lower()}.{last.lower()}{index}@leads.example.com",
                f"+1666{index:07d}",
                "active",
                rng.choice(LEAD_SOURCES),
                rng.choice(QUALIFICATIONS),
                rng.choice(employees) if employees and index % 3 else None,
                rng.randrange(0, 101),
                Decimal(rng.randrange(100, 50_000)),
                False,
                [],
                created,
                created,
            )

    def _deal_rows(
        self,
        org_id: int,
        rng: random.Random,
        codes: list[str],
        customers: tuple[int, int],
        pipeline: Pipeline,
        stages: list[PipelineStage],
        employees: list[int],
        stamp: Callable,
    ) -> Iterator[tuple]:
        total = len(codes)
        first_customer, last_customer = customers
        today = date.today()
        open_stages = [
            stage for stage in stages if not (stage.is_closed_won or stage.is_closed_lost)
        ]
        closed_stages = [stage for stage in stages if stage not in open_stages]
        open_count = total * 4 // 5  # open deals first: the runner moves ids in that range
        for index, code in enumerate(codes):
            stage = rng.choice(open_stages if index < open_count else closed_stages)
            value = Decimal(rng.randrange(500, 200_000))
            created = stamp(index, total)
            yield (
                org_id,
                code,
                f"Deal {index} {rng.choice(COMPANY_WORDS)} {rng.choice(LAST_NAMES)}",
                rng.randint(first_customer, last_customer) if first_customer else None,
                pipeline.pk,
                stage.pk,
                rng.choice(employees) if employees else None,
                value,
                "USD",
                stage.probability,
                compute_expected_revenue(value, stage.probability),
                today + timedelta(days=rng.randrange(0, 180)),
                "closed" if stage.is_closed_won or stage.is_closed_lost else "active",
                rng.choice(PRIORITIES),
                stage.is_closed_won,
                stage.is_closed_lost,
                [],
                created,
                created,
            )
