"""A simulated VM for tests against a real Prometheus: the exporter of
``vmguestlib serve`` on a simulated host whose steal and ballooning are set
from standard input.

Prints ``PORT <n>`` once listening.  Commands, one per line:
``steal <percent>``, ``balloon <MB>``, ``vmotion`` (new session id, counters
restart from zero, as on the destination host), ``quit``.  The host's counters
advance with real time at each scrape: elapsed time 1:1, CPU used 30%, stolen
the given percentage.
"""

from __future__ import annotations

import sys
import threading
import time

from vmguestlib import Handle, Snapshot
from vmguestlib.exporter import GuardedSource, make_exporter_server
from vmguestlib.testing import Simulator, simulated


class Host:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.lock = threading.Lock()
        self.steal = 0.0
        self.last = time.monotonic()
        self.ms = {"elapsed_ms": 0.0, "cpu_used_ms": 0.0, "cpu_stolen_ms": 0.0}
        self.handle = Handle()

    def _advance(self) -> None:
        now = time.monotonic()
        ms = (now - self.last) * 1000
        self.last = now
        self.ms["elapsed_ms"] += ms
        self.ms["cpu_used_ms"] += ms * 0.30
        self.ms["cpu_stolen_ms"] += ms * self.steal / 100
        self.sim.set(**{k: int(v) for k, v in self.ms.items()})

    def snapshot(self) -> Snapshot:
        with self.lock:
            self._advance()
            return self.handle.snapshot()

    def command(self, line: str) -> None:
        words = line.split()
        with self.lock:
            self._advance()
            if words[0] == "steal":
                self.steal = float(words[1])
            elif words[0] == "balloon":
                self.sim.set(mem_ballooned_mb=int(words[1]))
            elif words[0] == "vmotion":
                self.sim.bump_session()
                self.ms = dict.fromkeys(self.ms, 0.0)
                self.sim.set(**{k: 0 for k in self.ms})


def main() -> int:
    with simulated(cpu_limit_mhz=2000, mem_limit_mb=4096) as sim:
        host = Host(sim)
        source = GuardedSource(lambda: host)
        server = make_exporter_server(source, "127.0.0.1", int(sys.argv[1]) if
                                      len(sys.argv) > 1 else 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"PORT {server.server_address[1]}", flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            if line.strip() == "quit":
                break
            host.command(line)
            print("OK", flush=True)
        server.shutdown()
        server.server_close()
        host.handle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
