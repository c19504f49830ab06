"""Against the real components: promtool, Prometheus, node_exporter,
systemd-analyze and a Kubernetes schema validator, all on 127.0.0.1.

Each test skips when its tool is missing here, and fails instead in CI
(CI=true), where .ci/run installs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

import vmguestlib

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PACKAGE_PARENT = str(Path(vmguestlib.__file__).resolve().parent.parent)
IN_CI = os.environ.get("CI") == "true"
# .ci/run runs these once, in its fleet step (VMGUESTLIB_FLEET_TESTS=1), and
# sets 0 for its other runs of the suite (every CPython, the sanitizers).
if os.environ.get("VMGUESTLIB_FLEET_TESTS") == "0":
    pytest.skip("fleet tests run in their own CI step", allow_module_level=True)

pytestmark = pytest.mark.skipif(not DEPLOY.is_dir(), reason="needs the source tree's deploy/")


def need(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    if IN_CI:
        pytest.fail(f"{names[0]} is required in CI")
    pytest.skip(f"needs {names[0]}")


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("VMGUESTLIB_DEBUG", None)
    e.pop("VMGUESTLIB_LIBRARY", None)
    e["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, e.get("PYTHONPATH")) if p)
    e.update(extra)
    return e


def vmguestlib_cmd(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmguestlib", *args], env=env(**extra),
                          capture_output=True, text=True, timeout=60, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode())


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def start_serve(stack: ExitStack, *args: str, **extra: str) -> int:
    proc = subprocess.Popen([sys.executable, "-m", "vmguestlib", *args, "serve", "--port", "0",
                             "--address", "127.0.0.1"], env=env(**extra),
                            stderr=subprocess.PIPE, text=True)
    stack.callback(lambda: (proc.terminate(), proc.communicate(timeout=30)))
    assert proc.stderr is not None
    for _ in range(3):
        match = re.search(r"http://127\.0\.0\.1:(\d+)/metrics", proc.stderr.readline())
        if match:
            return int(match.group(1))
    raise AssertionError("serve did not start")


# -- promtool check metrics ----------------------------------------------------------------

def promtool_check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60, check=False)


def test_promtool_check_metrics_on_every_exposition(tmp_path: Path) -> None:
    need("promtool")
    texts: dict[str, str] = {}
    texts["text output"] = vmguestlib_cmd("--simulate", "-f", "prometheus").stdout
    target = tmp_path / "vmguestlib.prom"
    vmguestlib_cmd("--simulate", "-f", "prometheus", "-w", "0.2", "-n", "2", "-o", str(target))
    texts["textfile with rates"] = target.read_text()
    r = vmguestlib_cmd("-f", "prometheus", "-o", str(target),
                       VMGUESTLIB_LIBRARY="/nonexistent/libguestlib.so.0")
    assert r.returncode == 69
    texts["textfile, no library"] = target.read_text()
    with ExitStack() as stack:
        port = start_serve(stack, "--simulate")
        texts["serve"] = http_get(f"http://127.0.0.1:{port}/metrics")
        down = start_serve(stack, VMGUESTLIB_LIBRARY="/nonexistent/libguestlib.so.0")
        texts["serve, no library"] = http_get(f"http://127.0.0.1:{down}/metrics")
    assert "vmware_guest_cpu_stolen_ratio" in texts["textfile with rates"]
    assert "vmware_guest_unavailable_info" in texts["serve, no library"]
    for what, text in texts.items():
        assert "vmware_guest_up" in text, what
        r = promtool_check_metrics(text)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), what


def test_promtool_check_metrics_catches_a_bad_name() -> None:
    """The check above can fail: a counter without _total and a camelCase name."""
    good = vmguestlib_cmd("--simulate", "-f", "prometheus").stdout
    bad = good.replace("vmware_guest_cpu_used_seconds_total", "vmware_guest_cpuUsedSeconds")
    r = promtool_check_metrics(bad)
    assert r.returncode != 0
    assert "vmware_guest_cpuUsedSeconds" in r.stdout + r.stderr


# -- rules ---------------------------------------------------------------------------------

RULES = DEPLOY / "prometheus" / "vmguestlib-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "vmguestlib-alerts.test.yml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("promtool"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_promtool_check_and_test_rules() -> None:
    r = promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 7 rules found" in r.stdout
    r = promtool("test", "rules", RULE_TESTS.name, cwd=RULES.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_fails_on_a_wrong_rule(tmp_path: Path) -> None:
    text = RULES.read_text()
    # A metric name with a typo: the rules still parse, the unit tests fail.
    (tmp_path / RULES.name).write_text(
        text.replace("vmware_guest_memory_ballooned_bytes", "vmware_guest_memory_balloned_bytes"))
    shutil.copy(RULE_TESTS, tmp_path)
    assert promtool("check", "rules", RULES.name, cwd=tmp_path).returncode == 0
    r = promtool("test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert r.returncode != 0 and "VMwareGuestMemoryBallooned" in r.stdout + r.stderr
    # Broken PromQL: check rules fails.
    (tmp_path / RULES.name).write_text(text.replace("rate(vmware_guest_cpu_stolen", "rate(("))
    r = promtool("check", "rules", RULES.name, cwd=tmp_path)
    assert r.returncode != 0


# -- systemd -------------------------------------------------------------------------------

def installed_units(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this environment's command."""
    exe = shutil.which("vmguestlib") or str(Path(sys.executable).parent / "vmguestlib")
    if not os.path.exists(exe):
        pytest.skip("the vmguestlib command is not installed here")
    out = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        target = tmp_path / unit.name
        target.write_text(unit.read_text().replace("/usr/local/bin/vmguestlib", exe))
        out.append(target)
    return out


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    units = installed_units(tmp_path)
    assert len(units) == 3
    r = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == "", r.stderr
    # A broken unit fails the same check.
    bad = tmp_path / "bad.service"
    bad.write_text(units[0].read_text().replace("ExecStart=", "ExecStart=/nonexistent/x ", 1))
    assert subprocess.run([analyze, "verify", str(bad)], capture_output=True,
                          timeout=120, check=False).returncode != 0


def test_systemd_analyze_security_exposure(tmp_path: Path) -> None:
    analyze = need("systemd-analyze")
    for unit in installed_units(tmp_path):
        if unit.suffix != ".service":
            continue
        r = subprocess.run([analyze, "security", "--offline=true", str(unit)],
                           capture_output=True, text=True, timeout=120, check=False)
        match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        assert match, r.stdout + r.stderr
        print(f"{unit.name}: exposure {match.group(1)}")
        assert float(match.group(1)) <= 2.0


# -- Kubernetes ----------------------------------------------------------------------------

SERVICEMONITOR_SCHEMA = {
    # The fields of monitoring.coreos.com/v1 ServiceMonitor this kit uses, as
    # the prometheus-operator's CRD defines them (no schema for it ships with
    # kubernetes-validate).
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string"},
                                    "namespace": {"type": "string"},
                                    "labels": {"type": "object",
                                               "additionalProperties": {"type": "string"}}}},
        "spec": {
            "type": "object", "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "properties": {
                    "matchLabels": {"type": "object",
                                    "additionalProperties": {"type": "string"}}}},
                "namespaceSelector": {"type": "object", "properties": {
                    "matchNames": {"type": "array", "items": {"type": "string"}},
                    "any": {"type": "boolean"}}, "additionalProperties": False},
                "endpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": {"type": "string", "pattern": "^(0|(([0-9]+)(ms|s|m|h))+)$"},
                        "scrapeTimeout": {"type": "string",
                                          "pattern": "^(0|(([0-9]+)(ms|s|m|h))+)$"},
                        "relabelings": {"type": "array", "items": {
                            "type": "object", "additionalProperties": False,
                            "properties": {
                                "sourceLabels": {"type": "array", "items": {
                                    "type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
                                "targetLabel": {"type": "string"},
                                "action": {"type": "string"},
                                "regex": {"type": "string"},
                                "replacement": {"type": "string"}}}}}}},
            },
        },
    },
}


def test_kubernetes_manifests_are_valid() -> None:
    if IN_CI or os.environ.get("VMGUESTLIB_FLEET_TESTS") == "1":
        import kubernetes_validate  # noqa: PLC0415
        import yaml  # noqa: PLC0415
    else:
        kubernetes_validate = pytest.importorskip("kubernetes_validate")
        yaml = pytest.importorskip("yaml")
    import jsonschema  # noqa: PLC0415 (a dependency of kubernetes-validate)

    kinds = set()
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            kinds.add(doc["kind"])
            if doc["kind"] == "ServiceMonitor":
                jsonschema.validate(doc, SERVICEMONITOR_SCHEMA)
                continue
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
    assert kinds == {"DaemonSet", "Service", "ServiceMonitor"}
    # The validators do reject mistakes.
    ds = yaml.safe_load((DEPLOY / "kubernetes" / "daemonset.yaml").read_text())
    ds["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9500"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(ds, "1.30.0", strict=True)
    sm = yaml.safe_load((DEPLOY / "kubernetes" / "servicemonitor.yaml").read_text())
    sm["spec"]["endpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(sm, SERVICEMONITOR_SCHEMA)


def samples(text: str, prefixes: tuple[str, ...]
            ) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name.startswith(prefixes)}


# -- node_exporter -------------------------------------------------------------------------

def test_node_exporter_reads_the_textfile(tmp_path: Path) -> None:
    exporter = need("prometheus-node-exporter", "node_exporter")
    target = tmp_path / "vmguestlib.prom"
    r = vmguestlib_cmd("--simulate", "-f", "prometheus", "-o", str(target))
    assert r.returncode == 0
    port = free_port()
    proc = subprocess.Popen([exporter, "--collector.disable-defaults", "--collector.textfile",
                             f"--collector.textfile.directory={tmp_path}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(lambda: http_get(url), 30, "node_exporter")

        def values() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            return samples(http_get(url), ("vmware_guest_", "node_textfile_scrape_error"))

        got = values()
        want = samples(target.read_text(), ("vmware_guest_",))
        assert len(want) > 30
        assert got[("node_textfile_scrape_error", frozenset())] == 0
        assert got[("vmware_guest_up", frozenset())] == 1
        del got[("node_textfile_scrape_error", frozenset())]
        assert got == want        # every sample of the file, as written
        # A failed read: node_exporter then shows up 0 and no stale values.
        r = vmguestlib_cmd("-f", "prometheus", "-o", str(target),
                           VMGUESTLIB_LIBRARY="/nonexistent/libguestlib.so.0")
        assert r.returncode == 69
        assert values() == {
            ("node_textfile_scrape_error", frozenset()): 0,
            ("vmware_guest_up", frozenset()): 0,
            ("vmware_guest_unavailable_info", frozenset({("reason", "library_missing")})): 1}
    finally:
        proc.terminate()
        proc.wait(30)


# -- a real Prometheus ---------------------------------------------------------------------

class Prometheus:
    def __init__(self, stack: ExitStack, tmp: Path, targets: dict[str, list[int]]) -> None:
        binary = need("prometheus")
        self.port = free_port()
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: "
            f"[{', '.join(repr(f'127.0.0.1:{p}') for p in ports)}]\n"
            for job, ports in targets.items())
        config = tmp / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          f"scrape_configs:\n{jobs}")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(self.stop)
        wait_for(lambda: http_get(f"http://127.0.0.1:{self.port}/-/ready").strip() != "",
                 60, "Prometheus")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)

    def query(self, expr: str) -> dict[str, Any]:
        url = (f"http://127.0.0.1:{self.port}/api/v1/query?"
               + urllib.parse.urlencode({"query": expr}))
        try:
            body = http_get(url)
        except urllib.error.HTTPError as exc:    # 400: the query does not parse
            body = exc.read().decode()
        reply: dict[str, Any] = json.loads(body)
        return reply

    def vector(self, expr: str) -> list[tuple[dict[str, str], float]]:
        reply = self.query(expr)
        assert reply["status"] == "success", (expr, reply)
        return [(r["metric"], float(r["value"][1])) for r in reply["data"]["result"]]

    def scalar(self, expr: str) -> float:
        result = self.vector(expr)
        assert len(result) == 1, (expr, result)
        return result[0][1]


class SimVM:
    """tests/sim_exporter.py: a simulated host with steal and balloon set here."""

    def __init__(self, stack: ExitStack) -> None:
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name(
            "sim_exporter.py"))], env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True)
        stack.callback(self.stop)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline().split()[1])

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "OK"

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
        self.proc.wait(30)


STEAL = ("100 * rate(vmware_guest_cpu_stolen_seconds_total[{w}])"
         " / rate(vmware_guest_elapsed_seconds_total[{w}])")


def queries() -> dict[str, str]:
    """Every PromQL expression of the alerting rules and the dashboard."""
    import yaml  # noqa: PLC0415  (PyYAML: a dependency of kubernetes-validate)

    out = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            out[f"rule {rule['alert']}"] = rule["expr"]
    dash = json.loads((DEPLOY / "grafana" / "vmguestlib-dashboard.json").read_text())
    for panel in dash["panels"]:
        for target in panel["targets"]:
            out[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            m = re.fullmatch(r"label_values\((\w+), *(\w+)\)", var["definition"])
            assert m, var
            out[f"variable {var['name']}"] = f"count by ({m.group(2)}) ({m.group(1)})"
    return out


def query_problems(prom: Prometheus, exprs: dict[str, str]) -> list[str]:
    """Which expressions fail to parse, or return no data (an alert's
    expression is also run without its threshold, which must return data)."""
    problems = []
    for what, raw in exprs.items():
        expr = raw.replace("$instance", ".*").replace("$__rate_interval", "10s")
        reply = prom.query(expr)
        if reply["status"] != "success":
            problems.append(f"{what}: {reply.get('error')}")
            continue
        value_part = re.sub(r"\s*(>|==)\s*[0-9.]+\s*$", "", expr.strip())
        if what.startswith("rule") and value_part != expr.strip():
            reply = prom.query(value_part)
        if reply["status"] != "success" or not reply["data"]["result"]:
            problems.append(f"{what}: no data")
    return problems


def test_real_prometheus(tmp_path: Path) -> None:
    need("prometheus")
    if not IN_CI and os.environ.get("VMGUESTLIB_FLEET_TESTS") != "1":
        pytest.importorskip("yaml")
    with ExitStack() as stack:
        cli_port = start_serve(stack, "--simulate")
        down_port = start_serve(stack, VMGUESTLIB_LIBRARY="/nonexistent/libguestlib.so.0")
        vm = SimVM(stack)
        vm.send("steal 7")
        vm.send("balloon 512")
        prom = Prometheus(stack, tmp_path, {"vmguestlib": [cli_port, down_port, vm.port]})
        vm_sel = f'{{instance="127.0.0.1:{vm.port}"}}'
        cli_sel = f'{{instance="127.0.0.1:{cli_port}"}}'

        def enough_samples() -> bool:
            got = prom.vector(f"count_over_time(vmware_guest_elapsed_seconds_total{vm_sel}[1m])")
            return bool(got) and got[0][1] >= 8
        wait_for(enough_samples, 60, "8 scrapes")
        assert prom.scalar(f'up{{job="vmguestlib"}} == 1 and up{cli_sel}') == 1
        assert {m["instance"]: v for m, v in prom.vector("up")} == {
            f"127.0.0.1:{p}": 1.0 for p in (cli_port, down_port, vm.port)}

        # Steal and balloon as the simulated hosts were set.
        assert prom.scalar(STEAL.format(w="6s").replace(
            "seconds_total[", f"seconds_total{vm_sel}[")) == pytest.approx(7, abs=0.2)
        assert prom.scalar(STEAL.format(w="6s").replace(
            "seconds_total[", f"seconds_total{cli_sel}[")) == pytest.approx(1, abs=0.2)
        assert prom.scalar(f"vmware_guest_memory_ballooned_bytes{vm_sel}") == 512 << 20
        assert prom.scalar(
            f'vmware_guest_unavailable_info{{reason="library_missing",'
            f'instance="127.0.0.1:{down_port}"}}') == 1
        session_before = {m["session_id"] for m, _ in prom.vector(f"vmware_guest_info{vm_sel}")}

        # Every rule and dashboard query parses and returns data.
        problems = query_problems(prom, queries())
        assert problems == []
        # ...and the check catches a wrong metric name and a syntax error.
        wrong = query_problems(prom, {
            "rule typo": "vmware_guest_memory_balloned_bytes > 0",
            "panel typo": "rate(vmware_guest_cpu_stolen_second_total[$__rate_interval])",
            "panel syntax": "rate(vmware_guest_cpu_stolen_seconds_total[$__rate_interval]",
        })
        assert len(wrong) == 3 and "no data" in wrong[0] and "no data" in wrong[1]

        # vMotion: new session, counters restart from zero; rate() sees a reset,
        # and the steal stays at 7% with no spike.
        vm.send("vmotion")
        t_vmotion = time.time()

        def reset_seen() -> bool:
            got = prom.vector(f"resets(vmware_guest_elapsed_seconds_total{vm_sel}[1m])")
            return bool(got) and got[0][1] >= 1
        wait_for(reset_seen, 30, "the counter reset")
        time.sleep(8)
        session_after = {m["session_id"] for m, _ in
                         prom.vector(f"last_over_time(vmware_guest_info{vm_sel}[2s])")}
        assert session_after and session_after != session_before
        window = max(15, round(time.time() - t_vmotion) + 5)
        ratio = STEAL.format(w="3s").replace("seconds_total[", f"seconds_total{vm_sel}[")
        highest = prom.scalar(f"max_over_time(({ratio})[{window}s:1s])")
        lowest = prom.scalar(f"min_over_time(({ratio})[{window}s:1s])")
        assert 6.5 < lowest <= highest < 7.5, (lowest, highest)
        assert prom.scalar(ratio) == pytest.approx(7, abs=0.2)
