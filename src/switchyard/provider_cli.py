"""`switchyard provider`: run a provider agent (the group's own options), and
`switchyard provider login`: link this machine to an account by a device code."""

from __future__ import annotations

import click

TOKEN_FILE_OPTION = click.option(
    "--token-file",
    envvar="SWITCHYARD_PROVIDER_TOKEN_FILE",
    metavar="PATH",
    default="~/.switchyard/provider_token",
    show_default=True,
    help="Where `provider login` keeps the provider token (mode 0600).",
)


@click.group(invoke_without_command=True)
@click.option(
    "--coordinator",
    envvar="SWITCHYARD_COORDINATOR",
    multiple=True,
    metavar="URL",
    help="Coordinator base URL, e.g. http://127.0.0.1:8080 (ws(s) URL is derived). Required. "
    "Repeat it, or separate URLs with commas, to list several replicas of a cluster: the "
    "agent fails over to the next one whenever its connection ends.",
)
@click.option(
    "--token",
    envvar="SWITCHYARD_PROVIDER_TOKEN",
    metavar="T",
    help="Provider token (or env SWITCHYARD_PROVIDER_TOKEN); default: the --token-file "
    "that `switchyard provider login` wrote.",
)
@TOKEN_FILE_OPTION
@click.option(
    "--backend", type=click.Choice(["simulated", "openai"]), default="simulated", show_default=True
)
@click.option(
    "--upstream",
    envvar="SWITCHYARD_UPSTREAM",
    metavar="URL",
    help="OpenAI-compatible base URL for --backend openai, e.g. http://127.0.0.1:8000/v1",
)
@click.option(
    "--upstream-api-key",
    envvar="SWITCHYARD_UPSTREAM_API_KEY",
    default=None,
    help="Bearer key for the upstream server, if it needs one.",
)
@click.option(
    "--models",
    default="",
    metavar="a,b",
    help="Model ids to serve; `name=upstream-name` maps an id to the upstream's name, and a "
    "trailing `:N` declares its context length in tokens (`name=upstream:32768`). "
    "Default: sim-small (simulated) or every model the upstream lists (openai).",
)
@click.option(
    "--capability",
    "capability_specs",
    multiple=True,
    metavar="[MODEL@]CAP=yes|no|unknown,...",
    help="Declare capabilities (tools, vision, json_schema, reasoning, completions, "
    "embeddings) of every model, or of MODEL; wins over what the upstream reports. "
    "Repeatable, e.g. --capability tools=yes,vision=no --capability qwen-vl@vision=yes.",
)
@click.option(
    "--slots",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="Concurrent requests per model.",
)
@click.option(
    "--key-file",
    envvar="SWITCHYARD_PROVIDER_KEY_FILE",
    metavar="PATH",
    default="~/.switchyard/provider_key",
    show_default=True,
    help="Ed25519 identity key; created (mode 0600) on first run.",
)
@click.option("--attestation-kind", default="none", show_default=True)
@click.option("--attestation-evidence", default="")
@click.option(
    "--ttft",
    type=click.FloatRange(min=0),
    default=0.05,
    show_default=True,
    help="Simulated time to first token, seconds.",
)
@click.option(
    "--tokens-per-s",
    type=click.FloatRange(min=0, min_open=True),
    default=200.0,
    show_default=True,
    help="Simulated decode speed.",
)
@click.option(
    "--output-tokens",
    type=click.IntRange(min=0),
    default=32,
    show_default=True,
    help="Simulated output length (cut at the request's max_tokens).",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Simulated fraction of requests that fail (retryable).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Simulator seed.")
@click.option(
    "--batch-window-ms",
    type=click.FloatRange(0, 1000),
    default=5.0,
    show_default=True,
    help="Longest a token waits to share a frame with other tokens (the first never waits).",
)
@click.option(
    "--health-interval-s",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="How often the openai backend's upstream is health-checked.",
)
@click.option(
    "--health-timeout-s",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="How long a health check may take before the upstream counts as down.",
)
@click.option(
    "--health-url",
    default=None,
    metavar="URL",
    help="URL to health-check (any 2xx is healthy). Default: the server's /health, "
    "else the upstream's /models.",
)
@click.option("--log-level", default="INFO", show_default=True)
@click.pass_context
def provider(
    ctx: click.Context,
    coordinator: tuple[str, ...],
    token: str | None,
    token_file: str,
    backend: str,
    upstream: str | None,
    upstream_api_key: str | None,
    models: str,
    capability_specs: tuple[str, ...],
    slots: int,
    key_file: str,
    attestation_kind: str,
    attestation_evidence: str,
    ttft: float,
    tokens_per_s: float,
    output_tokens: int,
    fail_rate: float,
    seed: int,
    batch_window_ms: float,
    health_interval_s: float,
    health_timeout_s: float,
    health_url: str | None,
    log_level: str,
) -> None:
    """Run a provider agent: serve a local backend to a Switchyard coordinator.

    `switchyard provider login --coordinator URL` links this machine to your account
    first, by a code you approve while signed in; the agent then needs no --token.
    """
    if ctx.invoked_subcommand is not None:
        return  # `provider login`: its own options apply
    import logging
    from pathlib import Path

    import trio

    from switchyard.agent import (
        AgentConfig,
        AgentFatalError,
        ProviderAgent,
        SimulatedConfig,
        parse_capabilities,
        parse_models,
        run_until_signalled,
    )
    from switchyard.agent.identity import IdentityError
    from switchyard.agent.login import load_token

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not coordinator:
        raise click.UsageError("Missing option '--coordinator'.")
    try:
        token = token or load_token(token_file)
    except OSError as exc:
        raise click.UsageError(f"cannot read the token file {token_file}: {exc}") from exc
    if not token:
        raise click.UsageError(
            "Missing option '--token' (and no token file at "
            f"{token_file}): run `switchyard provider login --coordinator URL` first."
        )
    try:
        model_ids, model_map, model_context = parse_models(models)
        config = AgentConfig(
            coordinator=",".join(coordinator),
            token=token,
            backend=backend,  # type: ignore[arg-type]
            models=model_ids,
            model_map=model_map,
            model_context=model_context,
            capabilities=parse_capabilities(capability_specs),
            slots=slots,
            upstream=upstream,
            upstream_api_key=upstream_api_key,
            key_file=Path(key_file),
            attestation_kind=attestation_kind,
            attestation_evidence=attestation_evidence,
            simulated=SimulatedConfig(
                ttft_s=ttft,
                tokens_per_s=tokens_per_s,
                output_tokens=output_tokens,
                fail_rate=fail_rate,
                seed=seed,
            ),
            chunk_window_s=batch_window_ms / 1000,
            health_interval_s=health_interval_s,
            health_timeout_s=health_timeout_s,
            health_url=health_url,
        )
        agent = ProviderAgent(config)
    except (ValueError, OSError, IdentityError) as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"provider {agent.provider_id} connecting to {config.coordinator}", err=True)
    try:
        code = trio.run(run_until_signalled, agent)
    except AgentFatalError as exc:
        raise click.ClickException(str(exc)) from exc
    raise SystemExit(code)


@provider.command("login")
@click.option(
    "--coordinator",
    envvar="SWITCHYARD_COORDINATOR",
    required=True,
    metavar="URL",
    help="Coordinator base URL, e.g. https://switchyard.example.",
)
@click.option(
    "--name",
    default=None,
    help="What to call this machine in your account [default: its host name].",
)
@TOKEN_FILE_OPTION
def provider_login(coordinator: str, name: str | None, token_file: str) -> None:
    """Link this machine to your account: show a code, wait until you approve it while
    signed in (the dashboard's device page, or POST /v1/device/approve), then keep the
    provider token in --token-file (mode 0600) for `switchyard provider`."""
    import socket

    from switchyard.agent.login import LoginFailed, device_login

    label = (name or socket.gethostname() or "provider")[:100]
    try:
        linked = device_login(
            coordinator, label, token_file, show=lambda text: click.echo(text, err=True)
        )
    except LoginFailed as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot save the token to {token_file}: {exc}") from exc
    click.echo(
        f"Linked to account {linked.account_id}; token {linked.token_id} saved to "
        f"{linked.path}.\nStart serving with: switchyard provider --coordinator {coordinator}",
        err=True,
    )
