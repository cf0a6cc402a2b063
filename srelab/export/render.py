"""Render the kustomize folder: templates + context -> files, then check and write them.

`render(inputs, params)` is pure (tests and the golden snapshot use it); `export()` is what the
CLI runs: load, render, validate, refuse leaked secrets, and write build/k8s/.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from srelab.errors import LabError
from srelab.export import summary
from srelab.export.inputs import DASHBOARDS_DIR, Inputs, load_inputs
from srelab.export.model import NS_MONITORING, Context, build
from srelab.export.params import DEFAULT_PARAMS, EXPORT_DIR, Params, load_params
from srelab.export.selectors import translate_dashboard
from srelab.stack import redis_acl
from srelab.stack.settings import ROOT

TEMPLATES_DIR = EXPORT_DIR / "templates"
HELM_DIR = EXPORT_DIR / "helm"
DEFAULT_OUT = ROOT / "build" / "k8s"
MARKER = ".srelab-export"
# Compose secrets that are not secret and have a default in compose/.env.example.
SECRET_DEFAULTS = {"GRAFANA_ADMIN_USER": "admin"}
# Keys of the Secret the Helm charts read (kube-prometheus-stack-values.yaml: grafana.admin).
HELM_SECRET_KEYS = {NS_MONITORING: ["GRAFANA_ADMIN_PASSWORD", "GRAFANA_ADMIN_USER"]}


class _Dumper(yaml.SafeDumper):
    def analyze_scalar(self, scalar: str) -> Any:
        """PyYAML double-quotes any text with a tab; YAML allows tabs inside a literal block, so
        tab-indented source (a Go plugin file) stays readable as `|` unless it fails otherwise."""
        analysis = super().analyze_scalar(scalar)
        if "\t" in scalar and "\n" in scalar and not analysis.allow_block:
            analysis.allow_block = super().analyze_scalar(scalar.replace("\t", " ")).allow_block
        return analysis


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(value: Any, indent: int = 0) -> str:
    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=100).rstrip("\n")
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.splitlines())


def indent_text(text: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line.strip() else "" for line in text.rstrip("\n").splitlines())


def environment(templates: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = to_yaml
    env.filters["q"] = json.dumps
    env.filters["indent_text"] = indent_text
    env.filters["internal_path_rule"] = lambda path: f"!Path(`{path}`)"
    env.filters["basename"] = lambda path: Path(path).name
    return env


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dns_name(stem: str, prefix: str = "") -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")
    return (prefix + name)[:63].rstrip("-")


@dataclass
class Rendered:
    files: dict[str, str]
    """Relative path -> text, everything written to the output folder."""
    objects: list[tuple[str, dict[str, Any]]]
    """(file, object) for every manifest rendered by a template (not the generated ConfigMaps)."""
    rows: list[summary.Row]
    context: Context


def _manifest_templates(templates: Path) -> list[str]:
    skip = {"kustomization.yaml.j2"}
    names = [
        p.relative_to(templates).as_posix()
        for p in sorted(templates.rglob("*.yaml.j2"))
        if p.relative_to(templates).parts[0] != "helm"
    ]
    return [n for n in names if n not in skip]


def secret_keys(objects: list[tuple[str, dict[str, Any]]], secret_name: str) -> dict[str, list[str]]:
    keys: dict[str, set[str]] = {}

    def walk(node: Any, ns: str) -> None:
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if isinstance(ref, dict) and ref.get("name") == secret_name:
                keys.setdefault(ns, set()).add(ref["key"])
            volume = node.get("secret")
            if isinstance(volume, dict) and volume.get("secretName") == secret_name:
                keys.setdefault(ns, set()).update(item["key"] for item in volume.get("items") or [])
            for value in node.values():
                walk(value, ns)
        elif isinstance(node, list):
            for value in node:
                walk(value, ns)

    for _, obj in objects:
        walk(obj, (obj.get("metadata") or {}).get("namespace", ""))
    for ns, extra in HELM_SECRET_KEYS.items():
        keys.setdefault(ns, set()).update(extra)
    return {ns: sorted(keys[ns]) for ns in sorted(keys)}


def load_charts(helm_dir: Path = HELM_DIR) -> list[dict[str, Any]]:
    charts = (yaml.safe_load((helm_dir / "charts.yaml").read_text()) or {}).get("charts") or []
    for chart in charts:
        if chart["repo"].startswith("oci://"):
            chart["ref"] = f"{chart['repo']}/{chart['chart']}"
        else:
            chart["ref"] = f"{chart['repo_name']}/{chart['chart']}"
    return charts


def render(
    inputs: Inputs, params: Params, templates: Path = TEMPLATES_DIR, helm_dir: Path = HELM_DIR
) -> Rendered:
    ctx = build(inputs, params)
    env = environment(templates)
    base = {"params": params, **ctx.values}
    files: dict[str, str] = {}
    objects: list[tuple[str, dict[str, Any]]] = []

    for name in _manifest_templates(templates):
        out = name.removesuffix(".j2")
        text = _render_template(env, name, base)
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise LabError(f"template {name} rendered invalid YAML: {exc}") from None
        if not docs:
            continue
        files[out] = text
        objects.extend((out, d) for d in docs)

    dashboard_maps = []
    for file_name, text in sorted(inputs.dashboards.items()):
        # The file name is the ConfigMap key: keep it to [-._a-z0-9].
        stem = dns_name(Path(file_name).stem)
        path = f"monitoring/dashboards/{stem}.json"
        if path in files:
            raise LabError(f"dashboards {file_name!r} and another file map to the same name {stem!r}")
        # Selectors on compose's job and service labels, rewritten for the cluster's labels.
        files[path] = translate_dashboard(text, ctx.values["label_maps"])
        dashboard_maps.append({"name": dns_name(stem, "dashboard-"), "file": path})

    charts = load_charts(helm_dir)
    overrides = ctx.values["helm_overrides"]
    for chart in charts:
        static = yaml.safe_load((helm_dir / chart["values"]).read_text()) or {}
        merged = deep_merge(static, overrides.get(chart["name"], {}))
        header = (
            f"# Rendered by `srelab export k8s`: k8s-export/helm/{chart['values']} + values from "
            f"compose and params.yaml.\n# helm upgrade --install {chart['release']} {chart['ref']} "
            f"--version {chart['version']} -n {chart['namespace']} -f {chart['values']}\n"
        )
        files[f"helm/{chart['values']}"] = header + to_yaml(merged) + "\n"
    files["helm/install.sh"] = _render_template(env, "helm/install.sh.j2", {"charts": charts})

    keys = secret_keys(objects, params.secret_name)
    exporter_addr = f"redis://localhost:{ctx.values['redis']['port']}"  # the sidecar's REDIS_ADDR
    files["create-secrets.sh"] = _render_template(
        env,
        "create-secrets.sh.j2",
        {
            "secret_keys": keys,
            "secret_name": params.secret_name,
            "secret_defaults": SECRET_DEFAULTS,
            # compose secret files, made from compose/.env's variables (srelab/stack/redis_acl.py).
            "secret_files": {
                (ns, key): redis_acl.shell_writer(key, f"$workdir/{ns}/{key}", exporter_addr)
                for ns, ns_keys in keys.items()
                for key in ns_keys
                if key in redis_acl.SHELL_FILES
            },
        },
    )

    rows = summary.conversion_rows(inputs.services, ctx, inputs.secrets, str(inputs.base_dir))
    files["CONVERSION.md"] = summary.markdown(rows, ctx, keys, charts)

    resources = sorted({f for f, _ in objects}, key=lambda f: (f.count("/"), f))
    files["kustomization.yaml"] = _render_template(
        env, "kustomization.yaml.j2", {"resources": resources, "dashboard_maps": dashboard_maps, **base}
    )

    _refuse_leaks(files, inputs.secrets)
    return Rendered(files=dict(sorted(files.items())), objects=objects, rows=rows, context=ctx)


def _render_template(env: jinja2.Environment, name: str, values: dict[str, Any]) -> str:
    try:
        return env.get_template(name).render(**values)
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)
        raise LabError(f"template {name}{f' line {line}' if line else ''}: {exc}") from None


def _refuse_leaks(files: dict[str, str], secrets: dict[str, str]) -> None:
    for value, name in secrets.items():
        if len(value) < 6:
            continue
        for path, text in files.items():
            if value in text:
                raise LabError(f"refusing to write {path}: it would contain the value of {name}")


def write(rendered: Rendered, out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise LabError(
                f"--out {out} exists and was not written by `srelab export k8s`; pick an empty or new folder"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("written by `srelab export k8s`; the folder is replaced on each run\n")
    for rel, text in rendered.files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith(".sh"):
            path.chmod(0o755)


def export(
    params_path: Path = DEFAULT_PARAMS,
    out: Path = DEFAULT_OUT,
    dashboards_dir: Path = DASHBOARDS_DIR,
    check: bool = True,
) -> Rendered:
    from srelab.export.validate import problems

    params = load_params(params_path)
    inputs = load_inputs(dashboards_dir)
    rendered = render(inputs, params)
    if check:
        found = problems([obj for _, obj in rendered.objects], params.kubernetes_version, params.zones)
        if found:
            more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
            raise LabError("rendered manifests fail validation: " + "; ".join(found[:3]) + more)
    write(rendered, out)
    return rendered
