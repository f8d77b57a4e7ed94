"""Benchmark-only code: the bare comparison view and the large-tenant seeding command.

Installed only when BENCH_ENDPOINTS is on (crmAdmin.settings), so a production process has
neither the unauthenticated view nor `manage.py bench_seed`. It defines no models: its modules
import without the app being installed, which is how the tests reach them.
"""
