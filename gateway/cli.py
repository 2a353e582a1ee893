"""The ``accord`` command: serve, db, platform, brand, schema, demo.

Settings are built once, on the first command that needs them; a malformed
variable stops the command with a message naming it (exit status 2). A refused
request exits with status 1 and says why; nothing is half-written.
"""

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from consent.errors import TaxonomyError
from consent.taxonomy import attribute_schema, load_standard, to_document
from federation import cli as federation_cli
from gateway import demo, migrate, serving
from gateway.app import create_app
from gateway.db import transaction
from gateway.errors import GatewayError, NotFound, entry_for
from gateway.events import outbox
from gateway.events.delivery import Dispatcher
from gateway.identity.hints import hints_of
from gateway.members.models import AuthMethod, MemberKind, MemberStatus
from gateway.members.registration import Contact, MemberSpec, MemberView, Registration
from gateway.members.registry import Registry
from gateway.observability import logs
from gateway.runtime import Runtime
from gateway.settings import DEV_SECRETS, SettingsError, load_settings
from gateway.workers import serve as serve_workers

app = typer.Typer(
    name="accord",
    help="Accord: identity federation and consent gateway.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
schema_app = typer.Typer(help="The alliance data standard.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo alliance (development only).", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")
app.add_typer(demo_app, name="demo")
app.add_typer(keys_app, name="keys")
app.command("train")(federation_cli.train)


class State:
    """Per-invocation state: settings and runtime, built on first use."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        if self._runtime is None:
            try:
                self._runtime = Runtime.build(load_settings())
            except SettingsError as exc:
                fail(str(exc), code=2)
            except TaxonomyError as exc:
                fail(str(exc), code=2)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn catalogued errors into a message and exit status 1."""
    try:
        yield
    except GatewayError as exc:
        fail(exc.detail or entry_for(exc).title)
    except OperationalError as exc:
        fail(f"the database does not answer: {exc.orig or exc}".splitlines()[0])


@contextmanager
def unit_of_work(state: State) -> Iterator[Session]:
    rt = state.runtime()
    with refusals():
        if not migrate.is_current(rt.engine):
            fail("the database is not migrated: run `accord db upgrade`")
        with transaction(rt.sessions) as session:
            yield session


@contextmanager
def registry(state: State) -> Iterator[Registry]:
    with unit_of_work(state) as session:
        rt = state.runtime()
        yield Registry(session, rt.standard, rt.hasher)


@app.callback()
def main_callback(ctx: typer.Context) -> None:
    state = State()
    ctx.obj = state
    ctx.call_on_close(state.close)


def _state(ctx: typer.Context) -> State:
    state: State = ctx.obj
    return state


# --- serve ---------------------------------------------------------------------------


def _serve(rt: Runtime, host: str, port: int, banner: Callable[[], None] | None) -> None:
    logs.install_for(rt.settings)
    app_ = create_app(rt.settings, runtime=rt)
    serving.run(app_, host, port, log_level=rt.settings.log_level, on_started=banner)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="default: ACCORD_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: ACCORD_PORT")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="worker processes, each with its own SO_REUSEPORT socket (one per core)",
        ),
    ] = 1,
) -> None:
    """Serve the gateway (uvicorn)."""
    rt = _state(ctx).runtime()
    host, port = host or rt.settings.host, port or rt.settings.port
    if workers == 1:
        _serve(rt, host, port, banner=None)
        return
    logs.install_for(rt.settings)  # the supervisor's own lines; each worker installs its own
    raise typer.Exit(serve_workers(workers, host, port, rt.settings.log_level))


# --- db ------------------------------------------------------------------------------


def _revisions(rt: Runtime) -> str:
    return ", ".join(sorted(migrate.current(rt.engine))) or "base"


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Migrate the database up to a revision (default: head)."""
    rt = _state(ctx).runtime()
    with refusals():
        migrate.upgrade(rt.engine, revision)
        typer.echo(f"database at {_revisions(rt)}")


@db_app.command("downgrade")
def db_downgrade(ctx: typer.Context, revision: str) -> None:
    """Migrate the database down to a revision (``base`` empties it)."""
    rt = _state(ctx).runtime()
    with refusals():
        migrate.downgrade(rt.engine, revision)
        typer.echo(f"database at {_revisions(rt)}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Show the database's revision and whether it is at head."""
    rt = _state(ctx).runtime()
    with refusals():
        state = "head" if migrate.is_current(rt.engine) else "behind head"
        typer.echo(f"{_revisions(rt)} ({state})")


@db_app.command("revision")
def db_revision(
    ctx: typer.Context, message: Annotated[str, typer.Option("-m", "--message")]
) -> None:
    """Autogenerate a dated revision from the models (developers)."""
    rt = _state(ctx).runtime()
    with refusals():
        migrate.revision(message, engine=rt.engine)


# --- platform / brand ----------------------------------------------------------------


def _print_member(view: MemberView, as_json: bool) -> None:
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    typer.echo(f"{view.kind.value} {view.name!r}  [{view.status.value}]")
    typer.echo(f"  id:            {view.id}")
    typer.echo(f"  client_id:     {view.client_id}  ({view.auth_method.value})")
    typer.echo(f"  contact:       {view.contact.name} <{view.contact.email}>")
    typer.echo(f"  sector:        {view.sector}")
    typer.echo(f"  redirect_uris: {', '.join(view.redirect_uris)}")
    if view.login_url:
        typer.echo(f"  login_url:     {view.login_url}")
    if view.events_endpoint:
        typer.echo(f"  events:        {view.events_endpoint}")
    typer.echo(f"  purposes:      {', '.join(view.purposes) or '-'}")
    if isinstance(view, Registration) and view.client_secret:
        typer.echo(f"  client_secret: {view.client_secret}")
        typer.echo("  (the secret is shown once and stored only as a hash: keep it now)")


def _read_jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read --jwks-file {path}: {exc}")
    if not isinstance(loaded, dict):
        fail(f"--jwks-file {path} must hold a JSON object")
    return loaded


def _member_app(kind: MemberKind) -> typer.Typer:
    noun = kind.value
    sub = typer.Typer(help=f"Register and manage {noun}s.", no_args_is_help=True)

    @sub.command("add")
    def add(
        ctx: typer.Context,
        name: Annotated[str, typer.Option(help=f"the {noun}'s public name")],
        contact_name: Annotated[
            str | None, typer.Option(help="legal contact (PIPL Art. 23)")
        ] = None,
        contact_email: Annotated[str | None, typer.Option()] = None,
        contact_phone: Annotated[str | None, typer.Option()] = None,
        contact_address: Annotated[str | None, typer.Option()] = None,
        redirect_uri: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
        sector: Annotated[str | None, typer.Option(help="pairwise sector host")] = None,
        login_url: Annotated[str | None, typer.Option(help="platforms: login page")] = None,
        events_endpoint: Annotated[str | None, typer.Option(help="SET push endpoint")] = None,
        jwks_file: Annotated[Path | None, typer.Option(help="public JWK Set (JSON)")] = None,
        auth_method: Annotated[AuthMethod | None, typer.Option()] = None,
        purpose: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Register a member; prints its client id (and secret, once)."""
        try:
            spec = MemberSpec(
                name=name,
                contact=Contact(
                    name=contact_name,
                    email=contact_email,
                    phone=contact_phone,
                    address=contact_address,
                ),
                redirect_uris=redirect_uri or [],
                sector=sector,
                login_url=login_url,
                events_endpoint=events_endpoint,
                jwks=_read_jwks(jwks_file),
                auth_method=auth_method,
                purposes=purpose or [],
            )
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        with registry(_state(ctx)) as members:
            registration = members.register(kind, spec)
        _print_member(registration, as_json)

    @sub.command("list")
    def list_(
        ctx: typer.Context,
        status: Annotated[MemberStatus | None, typer.Option()] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List members (optionally only active or disabled ones)."""
        with registry(_state(ctx)) as registered:
            members = registered.list(kind, status)
        if as_json:
            typer.echo(json.dumps([m.model_dump(mode="json") for m in members], indent=2))
            return
        if not members:
            typer.echo(f"no {noun}s")
        for m in members:
            typer.echo(f"{m.client_id:<22} {m.status.value:<9} {m.name}  <{m.contact.email}>")

    @sub.command("show")
    def show(
        ctx: typer.Context,
        ref: Annotated[str, typer.Argument(help="id, client id or name")],
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Show one member."""
        with registry(_state(ctx)) as members:
            view = members.get(kind, ref)
        _print_member(view, as_json)

    for action, status in (("disable", MemberStatus.disabled), ("enable", MemberStatus.active)):
        _status_command(sub, kind, action, status)
    return sub


def _status_command(sub: typer.Typer, kind: MemberKind, action: str, status: MemberStatus) -> None:
    @sub.command(action, help=f"{action.capitalize()} a {kind.value} (by id, client id or name).")
    def change(ctx: typer.Context, ref: Annotated[str, typer.Argument()]) -> None:
        with registry(_state(ctx)) as members:
            view = members.set_status(kind, ref, status)
        typer.echo(f"{kind.value} {view.name!r} is {view.status.value}")


app.add_typer(_member_app(MemberKind.platform), name="platform")
app.add_typer(_member_app(MemberKind.brand), name="brand")


# --- keys ------------------------------------------------------------------------------


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """List JWS keys: id, algorithm, when each signs from and is retired."""
    rt = _state(ctx).runtime()
    rt.keys.active()  # the first call creates the default key
    for key in rt.keys.signing_keys():
        retire = key.retire_at.isoformat() if key.retire_at else "-"
        typer.echo(
            f"{key.kid:<20} {key.alg:<6} signs from {key.active_from.isoformat()}  retires {retire}"
        )


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    alg: Annotated[str, typer.Option(help="ES256 or RS256")] = "ES256",
    overlap_hours: Annotated[float, typer.Option(min=0, help="publish-before-use window")] = 24,
) -> None:
    """Publish a new key now; it signs after the overlap, and old keys retire after that."""
    rt = _state(ctx).runtime()
    try:
        key = rt.keys.rotate(alg, overlap=timedelta(hours=overlap_hours))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"new key {key.kid} ({key.alg}) signs from {key.active_from.isoformat()}")


salt_app = typer.Typer(
    help="The alliance salt platforms hash link hints with.", no_args_is_help=True
)
app.add_typer(salt_app, name="salt")


@salt_app.command("rotate")
def salt_rotate(ctx: typer.Context) -> None:
    """Issue a new salt version; the last one still counts for ACCORD_SALT_GRACE_DAYS."""
    state = _state(ctx)
    with unit_of_work(state) as session:
        version = hints_of(session, state.runtime()).rotate()
    typer.echo(f"alliance salt version {version.version} is current")


# --- events ----------------------------------------------------------------------------

events_app = typer.Typer(help="Shared Signals: the SETs queued for members.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("deliver")
def events_deliver(ctx: typer.Context) -> None:
    """Push the SETs due now, once (`accord serve` does it every ACCORD_EVENTS_INTERVAL)."""
    rt = _state(ctx).runtime()
    with refusals():
        if not migrate.is_current(rt.engine):
            fail("the database is not migrated: run `accord db upgrade`")
        dispatcher = Dispatcher(rt)
        try:
            sent = dispatcher.run_once()
        finally:
            dispatcher.close()
    typer.echo(f"{sent} SET(s) pushed or retried")


@events_app.command("status")
def events_status(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="member id, client id or name")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delivery status of one member's SETs: counts by state, oldest pending, dead letters."""
    with registry(_state(ctx)) as members:
        view = _any_member(members, ref)
        summary = outbox.summary(members.session, view.id)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    typer.echo(f"{view.kind.value} {view.name!r}")
    typer.echo("  " + ", ".join(f"{state}: {n}" for state, n in summary["counts"].items()))
    oldest = summary["oldest_pending"]
    if oldest:
        typer.echo(f"  oldest pending: {oldest['jti']} since {oldest['created_at']:%Y-%m-%d %H:%M}")
        if oldest["last_error"]:
            typer.echo(f"    last error: {oldest['last_error']}")
    for dead in summary["dead"]:
        typer.echo(f"  dead: {dead['jti']} ({dead['attempts']} attempts) {dead['last_error']}")


def _any_member(members: Registry, ref: str) -> MemberView:
    try:
        return members.get(MemberKind.platform, ref)
    except NotFound:
        return members.get(MemberKind.brand, ref)


# --- schema ----------------------------------------------------------------------------


@schema_app.command("export")
def schema_export(
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
    attributes_only: Annotated[
        bool, typer.Option(help="only the JSON Schema of attribute payloads")
    ] = False,
) -> None:
    """Write the data standard as served at GET /v1/schema."""
    try:
        standard = load_standard()
    except TaxonomyError as exc:
        fail(str(exc), code=2)
    document = attribute_schema(standard) if attributes_only else to_document(standard)
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out} (standard {standard.version}, {standard.digest})", err=True)


# --- demo ------------------------------------------------------------------------------


def _operator_hint(rt: Runtime) -> str:
    token = rt.settings.operator_token.get_secret_value()
    # The development default is public (it is in the source); a real token is never printed.
    return token if token == DEV_SECRETS["operator_token"] else "$ACCORD_OPERATOR_TOKEN"


def _require_development(rt: Runtime) -> None:
    if rt.settings.env.value != "development":
        fail("the demo alliance is for ACCORD_ENV=development only")


def _demo_members() -> tuple[demo.DemoMember, ...]:
    try:
        return demo.alliance()
    except demo.DemoError as exc:
        fail(str(exc), code=2)


@demo_app.command("seed")
def demo_seed(ctx: typer.Context) -> None:
    """Register the demo platforms and brand and seed a synthetic population (idempotent)."""
    state = _state(ctx)
    rt = state.runtime()
    _require_development(rt)
    members = _demo_members()
    with unit_of_work(state) as session:
        lines = demo.seed(session, rt, members)
        lines += demo.seed_population(session, rt, members)
    for line in lines:
        typer.echo(line)
    typer.echo(f"demo credentials in {demo.demo_dir(rt)}/")


def _issuer_problem(rt: Runtime) -> str | None:
    """Why the demo apps could not work with this gateway, if they could not: they reach
    it, and send browsers to it, at its issuer URL."""
    issuer = urlsplit(rt.settings.issuer)
    port = issuer.port or (443 if issuer.scheme == "https" else 80)
    if port != rt.settings.port:
        return (
            f"ACCORD_ISSUER ({rt.settings.issuer}) is not where the gateway serves"
            f" (port {rt.settings.port}): set ACCORD_ISSUER=http://127.0.0.1:{rt.settings.port}"
        )
    return None


@demo_app.command("up")
def demo_up(ctx: typer.Context) -> None:
    """Migrate, seed the demo alliance, serve the gateway and start the members' apps,
    printing the URLs to open; Ctrl+C stops them all."""
    state = _state(ctx)
    rt = state.runtime()
    _require_development(rt)
    db_upgrade(ctx)
    demo_seed(ctx)
    members = _demo_members()
    apps = demo.DemoApps(members, demo.demo_dir(rt))
    base = f"http://{rt.settings.host}:{rt.settings.port}"
    problem = _issuer_problem(rt)

    def banner() -> None:
        if problem is None:
            apps.start()
            apps.wait()
        else:
            for app in apps.apps:
                app.problem = "not started: " + problem
        lines = [
            "",
            "Accord is running. Open:",
            f"  consent center     {base}/center",
            f"  API reference      {base}/docs",
            f"  gateway health     {base}/healthz",
            f"  readiness          {base}/readyz",
            f"  data standard      {base}/v1/schema",
            f"  admin API          {base}/v1/admin/platforms",
            f"                     Authorization: Bearer {_operator_hint(rt)}",
            "The demo alliance, each member its own app:",
            *apps.lines(),
            "Try it: sign in at the first platform (e.g. as mia), open the consent center and",
            'link a second platform (mia again), then "Sign in with Accord" at the brand.',
            "Press Ctrl+C to stop.",
            "",
        ]
        typer.echo("\n".join(lines))

    # uvicorn re-raises the SIGTERM it stopped on; this handler turns it into an exit that
    # runs the `finally` below (the default one would end the process on the spot).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _serve(rt, rt.settings.host, rt.settings.port, banner)
    finally:
        apps.stop()


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    app()
