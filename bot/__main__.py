"""The command line: `python -m bot serve | worker | chat | dead | flows | sandbox | bench`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from bot.config import SERVICES, Settings
from bot.flow import FlowError
from bot.logs import setup_logging
from bot.staffcli import add_staff_commands


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = Settings()
    quiet = args.command == "chat" or getattr(args, "flows_command", "") == "test"
    setup_logging("CRITICAL" if quiet else settings.log_level, settings.log_json)
    try:
        return int(args.run(args, settings))
    except FlowError as exc:
        print(f"flow error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the webhooks (and, by default, the worker)")
    serve.add_argument("--no-worker", action="store_true", help="leave effects to `worker`")
    serve.add_argument("--port", type=int, help="overrides PORT")
    serve.set_defaults(run=_serve)
    worker = sub.add_parser("worker", help="run only the outbox worker (needs REDIS_URL)")
    worker.set_defaults(run=_worker)
    chat = sub.add_parser("chat", help="talk to the bot from this terminal as one phone")
    chat.add_argument("--phone", default="+15555550100")
    chat.set_defaults(run=_chat)
    sandbox = sub.add_parser("sandbox", help="serve the upstream sandboxes alone")
    sandbox.add_argument("--port", type=int, default=8090)
    sandbox.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    sandbox.set_defaults(run=_sandbox)
    # The benchmark parses its own options: no prefix chars here, or argparse takes them.
    bench = sub.add_parser("bench", help="measure speed and memory (see docs/performance.md)",
                           prefix_chars="+", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="options of the benchmark")
    bench.set_defaults(run=_bench)
    _add_faults(sub)
    _add_dead(sub)
    flows = sub.add_parser("flows", help="work with flow files")
    flows_sub = flows.add_subparsers(dest="flows_command", required=True)
    check = flows_sub.add_parser("check", help="load and check flows, then report")
    check.add_argument("path", nargs="?", type=Path, help="a flow file or folder (FLOW_PATH)")
    check.set_defaults(run=_flows_check)
    graph = flows_sub.add_parser("graph", help="write a flow as a Mermaid diagram")
    graph.add_argument("name", nargs="?", help="the flow's name (default: the first)")
    graph.add_argument("--path", type=Path, help="a flow file or folder (FLOW_PATH)")
    graph.set_defaults(run=_flows_graph)
    test = flows_sub.add_parser("test", help="run the conversation scripts in flows/tests/")
    test.add_argument("path", nargs="?", type=Path,
                      help="a flow folder, a flow file or a script file (FLOW_PATH)")
    test.set_defaults(run=_flows_test)
    reload = flows_sub.add_parser("reload", help="check the flows, then have every server "
                                  "and worker load them (through Redis)")
    reload.set_defaults(run=_flows_reload)
    actions = flows_sub.add_parser("actions", help="list the actions a flow can call "
                                   "(docs/actions.md)")
    actions.set_defaults(run=_flows_actions)
    schema = flows_sub.add_parser("schema", help="write the JSON Schema of the flow format")
    schema.set_defaults(run=_flows_schema)
    add_staff_commands(sub)
    return parser


def _add_faults(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    faults = sub.add_parser("faults", help="break a real stack and print the table "
                                             "(docs/reliability.md)")
    faults.add_argument("--quick", action="store_true", help="small figures, for a look")
    faults.add_argument("--only", nargs="*", help="scenarios to run (default: all)")
    faults.add_argument("--port-base", type=int, default=18610,
                        help="ports base..base+15 on 127.0.0.1 (default 18610)")
    faults.add_argument("--keep", type=Path, help="keep every process's log in this folder")
    faults.set_defaults(run=_faults)


def _add_dead(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dead = sub.add_parser("dead", help="dead letters: list, show, replay, drop")
    dead_sub = dead.add_subparsers(dest="dead_command", required=True)
    dead_list = dead_sub.add_parser("list", help="the oldest dead letters, one a line")
    dead_list.add_argument("--limit", type=int, default=100)
    for name, what in (("show", "one dead letter in full (phone masked)"),
                       ("replay", "queue it again (an unknown-outcome send or P2A call "
                                  "is looked up upstream first)"),
                       ("drop", "delete it")):
        cmd = dead_sub.add_parser(name, help=what)
        cmd.add_argument("id", help="the id `dead list` shows (<shard>-<stream id>)")
        if name == "replay":
            cmd.add_argument("--force", action="store_true",
                             help="send even when the upstream cannot say it was not sent")
    dead.set_defaults(run=_dead)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from bot.embedded import create_embedded_app
    from bot.runtime import load_flows
    from webhooks.signing import startup_problems

    updates: dict[str, object] = {}
    if args.no_worker:
        updates["run_worker"] = False
    if args.port:
        updates["port"] = args.port
    settings = settings.model_copy(update=updates)
    flows = load_flows(settings)  # refuse to start on a broken flow, before binding
    problems = startup_problems(settings)  # or on webhooks nobody can verify
    if problems:
        print("refusing to start: " + "\n".join(problems), file=sys.stderr)
        return 2
    _use_uvloop()
    print(f"civictext on http://127.0.0.1:{settings.port} | flows: "
          f"{', '.join(flows.flows)} | redis: {'server' if settings.redis_url else 'in-process'}"
          f" | sender: {settings.sms_sender}\n"
          f"Talk to it: python -m bot chat   (or POST a Twilio form to /webhooks/twilio/sms)",
          flush=True)
    web.run_app(create_embedded_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is None:
        print("the worker alone needs REDIS_URL: with the in-process Redis, `serve` runs it",
              file=sys.stderr)
        return 2
    from redis.asyncio.cluster import RedisCluster

    from bot.flowreload import flow_reloads
    from bot.runtime import open_runtime

    async def run() -> None:
        async with open_runtime(settings) as runtime, flow_reloads(runtime, watch=True):
            # Whatever LOG_LEVEL says, one line says it is up (Redis answered, flows
            # loaded), as `serve` prints where it listens: for whoever watches it start.
            kind = "cluster" if isinstance(runtime.redis, RedisCluster) else "server"
            print(f"civictext worker | flows: {', '.join(runtime.core.flows.flows)} | "
                  f"redis: {kind} | shards: {runtime.keys.shards} | "
                  f"sender: {settings.sms_sender}", flush=True)
            await runtime.run_background()

    _use_uvloop()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def _dead(args: argparse.Namespace, settings: Settings) -> int:
    if settings.redis_url is None:
        print("dead letters live in Redis: set REDIS_URL", file=sys.stderr)
        return 2
    from bot.dead import run_dead_command

    return asyncio.run(run_dead_command(settings, args.dead_command, getattr(args, "id", ""),
                                        limit=getattr(args, "limit", 100),
                                        force=getattr(args, "force", False)))


def _faults(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from bot.faults.run import main as faults_main
    except ImportError as exc:  # hypothesis comes with the test extras
        print(f"the fault suite needs the test extras (pip install -e '.[test]'): {exc}",
              file=sys.stderr)
        return 2
    return faults_main(args.quick, args.only, args.port_base, keep=args.keep)


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.chat import run_chat

    return asyncio.run(run_chat(settings, args.phone))


def _sandbox(args: argparse.Namespace, settings: Settings) -> int:
    from bot.sandbox.serve import serve

    print(f"sandboxes on http://127.0.0.1:{args.port}/<service> ({', '.join(SERVICES)})",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve("127.0.0.1", args.port, delay=args.delay))
    return 0


def _flows_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowcheck import report
    from bot.runtime import flow_path

    deployed = flow_path(settings)
    text, usable = report(args.path or deployed, neighbours=deployed, settings=settings)
    print(text, file=sys.stdout if usable else sys.stderr)
    return 0 if usable else 2


def _flows_graph(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowcheck import UnknownFlow, mermaid
    from bot.runtime import flow_path

    try:
        print(mermaid(args.path or flow_path(settings), args.name))
    except UnknownFlow as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def _flows_test(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowtest import run_flow_tests
    from bot.runtime import flow_path

    report = run_flow_tests(args.path or flow_path(settings))
    print(report.render(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def _flows_reload(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowcheck import report
    from bot.flowreload import announce
    from bot.redis_conn import connect_redis
    from bot.runtime import flow_path
    from bot.store import Keys

    text, usable = report(flow_path(settings))
    if not usable:
        print(f"{text}\nNothing reloaded: the running flows stay.", file=sys.stderr)
        return 2
    if settings.redis_url is None:
        print("The flows pass the check, but nothing was reloaded: without REDIS_URL the bot "
              "runs as one process with its Redis inside; send it SIGHUP to reload "
              "(kill -HUP <pid of python -m bot serve>).", file=sys.stderr)
        return 2

    async def bump() -> int:
        redis = await connect_redis(settings)  # a cluster too
        try:
            return await announce(redis, Keys(shards=settings.redis_shards))
        finally:
            await redis.aclose()

    number = asyncio.run(bump())
    print(f"The flows pass the check. Reload #{number} announced: every server and worker "
          "checks and loads them within a few seconds (a process whose files differ keeps "
          "its flows and logs why).")
    return 0


def _flows_actions(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowcheck import actions_doc

    sys.stdout.write(actions_doc())
    return 0


def _flows_schema(args: argparse.Namespace, settings: Settings) -> int:
    from bot.flowcheck import json_schema

    sys.stdout.write(json_schema())
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bench import main as bench_main

    return int(bench_main(args.rest))


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


if __name__ == "__main__":
    raise SystemExit(main())
