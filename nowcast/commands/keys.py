"""``nowcast keys``: create, list and revoke the gateway's API keys (kept hashed in Redis)."""

from __future__ import annotations

import json

import click


def _keys():
    from service.auth import KeyStore
    from workers.seam import get_settings, open_store

    settings = get_settings()
    if settings.embedded:
        raise click.ClickException("API keys live in Redis: set REDIS_URL")
    return KeyStore(open_store(settings).redis, settings.key_prefix)


@click.group("keys", help="Create, list and revoke API keys (needs REDIS_URL).")
def command() -> None:
    pass


@command.command("create", help="Create a key; it is printed once and stored only as a hash.")
@click.argument("name")
@click.option("--rate", default=None, help="Requests per window, e.g. 600/minute.")
@click.option("--quota", default=None, help="POST /nowcast per window, e.g. 5000/day.")
def create(name: str, rate: str | None, quota: str | None) -> None:
    try:
        key = _keys().create(name, rate=rate, quota=quota)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key)


@command.command("list", help="Names, ids, creation times and limits (never the keys).")
@click.option("--json", "as_json", is_flag=True)
def list_keys(as_json: bool) -> None:
    records = _keys().list()
    if as_json:
        click.echo(json.dumps(records, indent=1))
        return
    for r in records:
        click.echo(
            f"{r['id']}  {r['name']:<20} {r['created']}  rate={r['rate'] or 'default'}  "
            f"quota={r['quota'] or 'default'}"
        )


@command.command("revoke", help="Revoke a key by name or id; it stops working at once.")
@click.argument("name_or_id")
def revoke(name_or_id: str) -> None:
    if not _keys().revoke(name_or_id):
        raise click.ClickException(f"no key {name_or_id!r}")
    click.echo(f"revoked {name_or_id}")
