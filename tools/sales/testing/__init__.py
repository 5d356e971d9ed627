"""Local doubles of the sales pack's vendors, for tests, benchmarks and `signoff dev fake-providers`.

Each double is a small ASGI app (or, for SMTP, an aiosmtpd server) built from the vendor's public API
documentation: its real paths, status codes, error bodies, rate-limit headers and pagination. They run
on 127.0.0.1 over real sockets (`serving.serve_app`) and take faults on demand (`faults.FaultPlan`), so
the real clients are tested exactly as they talk to the vendor, with nothing patched.
"""
