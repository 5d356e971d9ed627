"""Token economy: a six-step planning task on Claude over the local Messages API double, prompt caching
on versus off.

Both arms run the real path: Signoff's runner, pydantic-ai's `AnthropicModel`, the official SDK, HTTP to
`api.dev.anthropic_double` (which accounts for the cache by Anthropic's documented rules and counts tokens
with its deterministic stand-in), the ledger priced by genai-prices at Sonnet 4.5's rates. Each arm gets a
fresh double (an empty cache) and a fresh SQLite database. The double is used as shipped: default
minimum cacheable length (1,024 tokens for Sonnet), 20-block lookback, five-minute and one-hour TTLs.

The task: five read-only tool calls, then the answer (six model requests). Reported per arm: prompt
tokens (uncached + cache read + cache write), the share of prompt tokens read from the cache from the
second step on, and the ledger's cost; then the cost ratio cached / uncached. The goal is judged on the
first run against an empty cache. A second run of the same prompt version (another task, same double)
is shown beside it: it reads the tools and instructions the first one wrote, which is the steady state
of a service that runs more than one task every five minutes.

Goal: at least 80% of the prompt read from the cache from step 2 on, the whole run at most 0.35x the
uncached cost.

Beside the measured ratio the report gives a floor: the least this run's token stream could cost under
any placement of breakpoints at all. A prompt token that appears in `a` requests costs at least the
base input rate when `a` is 1 (a cache write would only add to it), and otherwise at least the cheaper
of `a` uncached reads and one five-minute write plus `a - 1` cache reads; output costs what it costs.
The floor says how much of a gap to a goal any change to caching could close; the rest would have to
come from the tokens themselves (fewer or shorter tool results, a longer shared prefix).

Run: `.venv/bin/python -m bench.bench_token_economy [--cache-ttl 5m|1h]`
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import warnings
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic_ai import models
from pydantic_ai.models.anthropic import AnthropicModel
from sqlalchemy import select

from signoff.agent.models import CacheTtl, ClaudeOptions, claude_model
from signoff.agent.prices import TokenRates, token_rates
from signoff.agent.runs import RunnerSettings
from signoff.agent.runtime import build_runtime, prepare_database
from signoff.agent.store.engine import create_engine
from signoff.agent.store.tables import LedgerRow
from signoff.agent.telemetry import configure_telemetry
from signoff.api.dev.anthropic_double import MessagesDouble, Reply, ToolUse
from signoff.policies import PolicyConfig, build_policy_engine
from signoff.tools.sales import sales_pack

MODEL_ID = "anthropic:claude-sonnet-4-5"
PRICED_AS = "claude-sonnet-4-5"  # genai-prices' id of MODEL_ID
TASK = "Find fintech and insurtech leads in Berlin, check what we already know about them, and summarise."
# A second run of the same prompt version, another task: it shares only the tools and instructions.
WARM_TASK = "Find fintech and insurtech leads in Berlin for the Q1 campaign and tell me who is new."
GOAL_CACHE_READ_SHARE = 0.80
GOAL_COST_RATIO = Decimal("0.35")


def script() -> list[Reply]:
    """Five read-only tool calls (one per step), then the answer: six model requests."""
    return [
        Reply(
            tool_uses=[ToolUse("discover_leads", {"icp": {"industry": "fintech", "location": "Berlin"}, "limit": 5})]
        ),
        Reply(tool_uses=[ToolUse("enrich_contacts", {"emails": ["lead0@fintech.example", "lead1@fintech.example"]})]),
        Reply(tool_uses=[ToolUse("get_contact", {"email": "lead0@fintech.example"})]),
        Reply(
            tool_uses=[ToolUse("discover_leads", {"icp": {"industry": "insurtech", "location": "Berlin"}, "limit": 5})]
        ),
        Reply(tool_uses=[ToolUse("get_contact", {"email": "lead1@fintech.example"})]),
        Reply(text="Found ten leads across fintech and insurtech in Berlin; two enriched, none in the CRM yet."),
    ]


@dataclass(frozen=True, kw_only=True)
class Arm:
    """What one arm's ledger says."""

    caching: bool
    steps: list[LedgerRow]

    @property
    def prompt_tokens(self) -> int:
        return sum(_prompt(row) for row in self.steps)

    @property
    def read_share_from_step_2(self) -> float:
        later = self.steps[1:]
        return sum(row.cache_read_tokens for row in later) / sum(_prompt(row) for row in later)

    @property
    def cost_usd(self) -> Decimal:
        return sum((row.cost_usd or Decimal(0) for row in self.steps), start=Decimal(0))


def _prompt(row: LedgerRow) -> int:
    return row.input_tokens + row.cache_read_tokens + row.cache_write_tokens


def lowest_possible_cost(cached: Arm, rates: TokenRates) -> Decimal:
    """The least the cached arm's token stream could cost under any placement of cache breakpoints.

    Needs the stream to grow by appending, each prompt beginning with the whole previous one: the cached
    arm shows it, every step from the second reading exactly the previous step's prompt from the cache.
    Then the tokens new at step k appear in requests k..n, and each is charged its cheapest possible
    price for that many appearances (see the module docstring).
    """
    prompts = [_prompt(row) for row in cached.steps]
    for previous, row in zip(prompts, cached.steps[1:], strict=False):
        if row.cache_read_tokens != previous:
            raise ValueError(f"step {row.step} does not begin with the whole previous prompt: no floor")
    total = Decimal(0)
    for index, (row, prompt) in enumerate(zip(cached.steps, prompts, strict=True)):
        new_tokens = prompt - (prompts[index - 1] if index else 0)
        appearances = len(prompts) - index
        # Uncached every time, or one write then reads; for a single appearance that is the input rate.
        per_token = min(appearances * rates.input, rates.cache_write_5m + (appearances - 1) * rates.cache_read)
        total += new_tokens * per_token + row.output_tokens * rates.output
    return total


async def run_arm(*, caching: bool, cache_ttl: CacheTtl, workdir: Path) -> tuple[Arm, Arm]:
    """The first run on an empty cache, and a second run of the same prompt version after it."""
    double = MessagesDouble([*script(), *script()])
    with double.serve() as base_url:
        model: AnthropicModel = claude_model(
            MODEL_ID,
            options=ClaudeOptions(api_key="bench-key", base_url=base_url, prompt_caching=caching, cache_ttl=cache_ttl),
        )
        engine = create_engine(f"sqlite+aiosqlite:///{workdir / f'caching-{caching}.db'}")
        try:
            runtime = build_runtime(
                session_factory=await prepare_database(engine, [sales_pack()]),
                model=model,
                policy=build_policy_engine(PolicyConfig()),
                packs=[sales_pack()],
                runner_settings=RunnerSettings(),
                ledger_spool_path=workdir / f"spool-{caching}.jsonl",
            )
            arms: list[Arm] = []
            for task in (TASK, WARM_TASK):
                outcome = await runtime.runner.start(task)
                assert outcome.status == "completed", outcome
                async with runtime.session_factory() as session:
                    query = select(LedgerRow).where(LedgerRow.run_id == outcome.run_id).order_by(LedgerRow.step)
                    rows = list((await session.execute(query)).scalars())
                assert len(rows) == 6 and all(row.attempt_status == "succeeded" for row in rows)
                arms.append(Arm(caching=caching, steps=rows))
        finally:
            await model.client.close()
            await engine.dispose()
    first, second = arms
    return first, second


def report(cached: Arm, uncached: Arm, warm: Arm, warm_uncached: Arm, cache_ttl: CacheTtl) -> str:
    lines = [
        f"six-step planning task, {MODEL_ID}, stable-prefix TTL {cache_ttl}, first run on an empty cache",
        "",
        "step  caching  uncached-in  cache-read  cache-write  output  cost_usd",
    ]
    for arm in (uncached, cached):
        for row in arm.steps:
            lines.append(
                f"{row.step:>4}  {'on' if arm.caching else 'off':>7}  {row.input_tokens:>11}  "
                f"{row.cache_read_tokens:>10}  {row.cache_write_tokens:>11}  {row.output_tokens:>6}  {row.cost_usd}"
            )
    ratio = cached.cost_usd / uncached.cost_usd
    try:
        floor = lowest_possible_cost(cached, token_rates(PRICED_AS))
        floor_line = f"${floor.quantize(Decimal('0.00000001'))}, {floor / uncached.cost_usd:.3f}x of uncached"
    except ValueError as error:  # a stream that does not grow by appending: no floor, the rest still stands
        floor_line = f"n/a ({error})"
    share = cached.read_share_from_step_2
    warm_ratio = warm.cost_usd / warm_uncached.cost_usd
    lines += [
        "",
        f"prompt tokens, whole run:        caching off {uncached.prompt_tokens}, on {cached.prompt_tokens}",
        f"read from cache, steps 2-6:      {share:.1%} (goal >= {GOAL_CACHE_READ_SHARE:.0%}): "
        f"{'met' if share >= GOAL_CACHE_READ_SHARE else 'NOT met'}",
        f"cost, whole run:                 off ${uncached.cost_usd}, on ${cached.cost_usd}",
        f"cost ratio cached / uncached:    {ratio:.3f}x (goal <= {GOAL_COST_RATIO}x): "
        f"{'met' if ratio <= GOAL_COST_RATIO else 'NOT met'}",
        f"floor, any breakpoint placement: {floor_line}",
        "",
        "second run of the prompt version (tools and instructions already cached by the first):",
        f"read from cache, steps 1-6:      {sum(r.cache_read_tokens for r in warm.steps) / warm.prompt_tokens:.1%}",
        f"cost:                            off ${warm_uncached.cost_usd}, on ${warm.cost_usd}, ratio {warm_ratio:.3f}x",
    ]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--cache-ttl", choices=["5m", "1h"], default="5m", help="TTL of tools and instructions")
    args = parser.parse_args()
    # Only the double on 127.0.0.1 is reached; Sonnet 4.5's deprecation notice is not what this measures.
    models.ALLOW_MODEL_REQUESTS = True
    warnings.filterwarnings("ignore", message="The model 'claude-sonnet-4-5' is deprecated")
    configure_telemetry(instrument_pydantic_ai=False)  # local only: nothing is exported
    with tempfile.TemporaryDirectory(prefix="signoff-token-economy-") as workdir:
        uncached, warm_uncached = await run_arm(caching=False, cache_ttl=args.cache_ttl, workdir=Path(workdir))
        cached, warm = await run_arm(caching=True, cache_ttl=args.cache_ttl, workdir=Path(workdir))
    print(report(cached, uncached, warm, warm_uncached, args.cache_ttl))


if __name__ == "__main__":
    asyncio.run(main())
