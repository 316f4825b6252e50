"""The commands an app asks of Redis: INFO commandstats counts every command the server runs,
those Lua scripts run inside it included; MONITOR tells which came from a client."""

import re
import socket

# Commands whose commandstats entries are per subcommand ("config|resetstat").
WITH_SUBCOMMANDS = {"client", "config", "script", "function", "command", "cluster", "memory"}


class Monitor:
    """MONITOR on its own connection: which commands come from clients, which from scripts."""

    LINE = re.compile(r'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]*)"(?: "([^"]*)")?')

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.file = self.sock.makefile("rb")
        if self.file.readline().strip() != b"+OK":
            raise SystemExit("MONITOR was refused")

    def collect(self):
        """Counts (command, "client" or "script") until the server has sent everything."""
        counts = {}
        self.sock.settimeout(0.2)
        try:
            for raw in self.file:
                match = self.LINE.match(raw.decode(errors="replace"))
                if not match:
                    continue
                source, name, sub = match.groups()
                name = name.lower()
                if name in WITH_SUBCOMMANDS and sub:
                    name = f"{name}|{sub.lower()}"
                kind = "script" if source == "lua" else "client"
                counts[(name, kind)] = counts.get((name, kind), 0) + 1
        except TimeoutError:
            pass
        self.sock.close()
        return counts


def commandstats(client):
    """{command: calls}, rejected calls included (a command sent and refused is still sent)."""
    return {
        name.removeprefix("cmdstat_"): int(entry["calls"]) + int(entry.get("rejected_calls", 0))
        for name, entry in client.info("commandstats").items()
    }


# What runs Lua inside the server: only these can make commands run that the app did not send.
SCRIPT_COMMANDS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}


def runs_scripts(stats):
    return any(stats.get(name, 0) for name in SCRIPT_COMMANDS)


def split_commands(stats, census):
    """Per command, the calls the app sent and those scripts ran, in the proportion MONITOR
    saw them; a command MONITOR never saw counts as sent, and without scripts all are."""
    sent, inside = {}, {}
    scripts = runs_scripts(stats)
    for name, calls in stats.items():
        by_client = census.get((name, "client"), 0)
        by_script = census.get((name, "script"), 0) if scripts else 0
        share = by_client / (by_client + by_script) if by_client + by_script else 1.0
        if calls * share:
            sent[name] = calls * share
        if calls * (1 - share):
            inside[name] = calls * (1 - share)
    return sent, inside


def add_counts(total, counts):
    for key, n in counts.items():
        total[key] = total.get(key, 0) + n
