"""`python -m adapters.kraken.testing --port 8080`: a local Kraken for offline bot tests.

Listens on 127.0.0.1 only. Prints the base URL and a fresh API key and secret (or uses the ones
given), funds the account and sets the prices given, then serves until interrupted. Move the
market from another process with `POST /_control/price` (see docs/kraken.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from adapters.kraken.signing import Credentials
from adapters.kraken.testing.rig import DEFAULT_BALANCES, DEFAULT_PRICES
from adapters.kraken.testing.server import KrakenTestServer, new_key_material
from execution_core.config import RateLimitTier


def _pair(text: str) -> tuple[str, Decimal]:
    name, sep, value = text.partition("=")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not sep or not name or not amount.is_finite() or amount <= 0:
        raise argparse.ArgumentTypeError(f"expected NAME=POSITIVE_NUMBER (got {text!r})")
    return name, amount


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m adapters.kraken.testing",
        description="A Kraken-compatible REST server on 127.0.0.1 over the paper engine.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="0 picks a free port (default %(default)s)"
    )
    parser.add_argument(
        "--tier",
        choices=[t.value for t in RateLimitTier],
        default=RateLimitTier.STARTER.value,
        help="the account tier whose rate limits apply (default %(default)s)",
    )
    parser.add_argument("--api-key", help="accept this API key (default: a fresh random one)")
    parser.add_argument("--api-secret", help="its base64 secret (required with --api-key)")
    parser.add_argument(
        "--deposit",
        type=_pair,
        action="append",
        metavar="ASSET=AMOUNT",
        help="fund the account (repeatable; default USDT=100000 BTC=2 XRP=100000)",
    )
    parser.add_argument(
        "--price",
        type=_pair,
        action="append",
        metavar="SYMBOL=PRICE",
        help="a starting price (repeatable; default BTC/USDT=50000 XRP/USDT=0.5 XRP/BTC=0.00001)",
    )
    parser.add_argument("--nonce-window", type=int, default=0, help="the key's nonce window")
    parser.add_argument("--seed", type=int, default=0, help="seed of the order and trade ids")
    return parser


def _say(*lines: str) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()


async def serve(args: argparse.Namespace, *, ready: asyncio.Event | None = None) -> None:
    """Run the server described by `args` until cancelled."""
    server = KrakenTestServer(tier=RateLimitTier(args.tier), seed=args.seed)
    if args.api_key:
        api_key, secret = args.api_key, args.api_secret
    else:
        api_key, secret = new_key_material()
    server.add_key(
        credentials=Credentials.from_strings(api_key, secret), nonce_window=args.nonce_window
    )
    for asset, amount in args.deposit or DEFAULT_BALANCES.items():
        server.deposit(asset, amount)
    for name, price in args.price or DEFAULT_PRICES.items():
        entry = server.names.lookup(name)
        if entry is None:
            known = ", ".join(server.engine.symbols)
            raise ValueError(f"--price: unknown pair {name!r} (known: {known})")
        server.set_price(entry.symbol, price)
    base_url = await server.start(args.host, args.port)
    # Showing the secret is the point: it is a throwaway key for a local test server.
    control = f"{base_url}/_control/price"
    _say(
        f"Kraken test server on {base_url} (tier {args.tier})",
        f"API key:    {api_key}",
        f"API secret: {secret}",
        'Move a price: curl -d \'{"symbol":"BTC/USDT","price":"51000"}\' ' + control,
    )
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and serve until Ctrl-C."""
    args = _parser().parse_args(argv)
    if bool(args.api_key) != bool(args.api_secret):
        sys.stderr.write("--api-key and --api-secret go together\n")
        return 2
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
    except ValueError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
