"""`orch service install|start|stop|restart|status|uninstall`: orch serve under systemd --user or launchd."""

from __future__ import annotations

import argparse
import sys

from orch.core.config import load_config
from orch.core.home import OrchHome
from orch.core.ops.service_manager import ServeCommand, ServiceManager, chat_transport_warning, service_manager
from orch.transports.extras import require_extras


def _install(manager: ServiceManager, home: OrchHome) -> None:
    config = load_config(home.config_file)
    # A service that cannot import its chat library would fail at every start: say so now, with the fix.
    require_extras(config.transports.enabled_names())
    warning = chat_transport_warning(config)
    print(manager.install(ServeCommand.current(home)))
    if warning:
        print(f"orch: {warning}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    action = args.service_action
    manager = service_manager()
    if action == "install":
        _install(manager, OrchHome.from_env())
    elif action == "status":
        report, code = manager.status()
        sys.stdout.write(report)
        return code
    elif action == "uninstall":
        manager.uninstall()
        print(f"orch service uninstalled; removed {manager.unit_path}")
    else:
        act, done = {"start": (manager.start, "started"), "stop": (manager.stop, "stopped"),
                     "restart": (manager.restart, "restarted")}[action]
        act()
        print(f"orch service {done}")
    return 0
