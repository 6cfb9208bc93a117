"""Start an aiohttp app on a local port: the simulator and `rillet serve` both do this."""

from __future__ import annotations

from aiohttp import web


async def start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port (0 picks a free port); returns the runner and the port.

    With handler_cancellation, a client that goes away cancels its handler, so a stream it
    was reading (or a run it started) ends even while nothing is being sent."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None,
                           handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]
