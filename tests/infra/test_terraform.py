"""Security and sizing properties of terraform/ and the deploy workflow, read statically.

These are static checks: the Google and random Terraform providers cannot be
downloaded here (no registry access), so `terraform init`, `validate` and `plan` cannot
run and nothing is applied to Google Cloud. The tests read the HCL itself with
python-hcl2 (and the workflows line by line): what the bucket allows, who holds which role
(the runtime, reconcile, export and CI deployer accounts), how secrets reach Cloud Run, what the
request log keeps, and the numbers Terraform would compute (concurrency, memory), which
they evaluate from the parsed locals and variable defaults.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
import runpy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from picbucket.adapters.export_runners import CloudRunExportRunner
from picbucket.cli import main as picbucket_cli
from picbucket.domain import export_key
from picbucket.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
BOOTSTRAP = TERRAFORM / "bootstrap"
WORKFLOWS = ROOT / ".github" / "workflows"

EXPECTED_FILES = {
    "versions.tf",
    "variables.tf",
    "outputs.tf",
    "apis.tf",
    "storage.tf",
    "firestore.tf",
    "iam.tf",
    "secrets.tf",
    "run.tf",
    "registry.tf",
    "reconcile.tf",
    "exports.tf",
    "logging.tf",
    "terraform.tfvars.example",
}
RUNTIME_ROLES = {
    ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
    ("google_project_iam_member", "roles/datastore.user"),
    ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
    # Only iam.serviceAccounts.signBlob, on itself (test_runtime_may_sign_but_not_mint_tokens).
    ("google_service_account_iam_member", "${google_project_iam_custom_role.sign_blob.id}"),
    # Start the export job with arguments, on that job only (test_runtime_may_run_only_the_export_job).
    ("google_cloud_run_v2_job_iam_member", "roles/run.jobsExecutorWithOverrides"),
}
RECONCILE_ROLES = {
    ("google_storage_bucket_iam_member", "roles/storage.objectAdmin"),
    ("google_project_iam_member", "roles/datastore.user"),
    ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
}
EXPORT_ROLES = {
    ("google_storage_bucket_iam_member", "roles/storage.objectViewer"),
    ("google_storage_bucket_iam_member", "roles/storage.objectUser"),
    ("google_project_iam_member", "roles/datastore.user"),
    ("google_secret_manager_secret_iam_member", "roles/secretmanager.secretAccessor"),
}
# Set on the service only: the export job cannot name itself in local.app_env.
EXPORT_RUNNER_ENV = {"PICBUCKET_EXPORT_MODE", "PICBUCKET_EXPORT_JOB"}
SECRET_ENV = {"PICBUCKET_SECRET_KEY", "PICBUCKET_OIDC_CLIENT_ID", "PICBUCKET_OIDC_CLIENT_SECRET"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
IAM_TYPE = re.compile(r"^google_.*_iam_(member|binding|policy)$")

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


# --- Reading the configuration ---------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    return hcl2.loads(path.read_text(), serialization_options=_OPTIONS)


class Config:
    """The root module of terraform/, flattened: resources, locals, variables, outputs."""

    def __init__(self, directory: Path) -> None:
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.ephemeral: dict[tuple[str, str], dict[str, Any]] = {}
        self.terraform: list[dict[str, Any]] = []
        self.sources: dict[str, str] = {}
        for path in sorted(directory.glob("*.tf")):
            self.sources[path.name] = path.read_text()
            tree = _parse(path)
            for block in tree.get("resource", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        assert (rtype, name) not in self.resources, f"duplicate {rtype}.{name}"
                        self.resources[rtype, name] = body
            for block in tree.get("ephemeral", []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        self.ephemeral[rtype, name] = body
            for block in tree.get("locals", []):
                for key, value in block.items():
                    assert key not in self.locals, f"local.{key} defined twice"
                    self.locals[key] = value
            for block in tree.get("variable", []):
                self.variables.update(block)
            for block in tree.get("output", []):
                self.outputs.update(block)
            self.terraform.extend(tree.get("terraform", []))

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        assert (rtype, name) in self.resources, f"missing resource {rtype}.{name}"
        return self.resources[rtype, name]

    def of_type(self, rtype: str) -> dict[str, dict[str, Any]]:
        return {name: body for (t, name), body in self.resources.items() if t == rtype}

    def default(self, name: str) -> Any:
        return self.variables[name].get("default")


@pytest.fixture(scope="module")
def tf() -> Config:
    return Config(TERRAFORM)


def _interpolated(expr: Any) -> str:
    """Return the expression inside ``${...}`` (or the literal as text)."""
    text = str(expr)
    match = re.fullmatch(r"\$\{(.*)\}", text, flags=re.DOTALL)
    return match.group(1).strip() if match else text


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Return the one nested block ``name`` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list), f"no {name} block"
    assert len(blocks) == 1, f"expected one {name} block, found {len(blocks)}"
    block: dict[str, Any] = blocks[0]
    return block


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item)


def _expand_locals(tf: Config, expr: str) -> str:
    """Replace ``local.x`` references by their definitions, recursively."""
    for _ in range(10):
        expanded = re.sub(
            r"\blocal\.(\w+)",
            lambda m: f"({_interpolated(tf.locals[m.group(1)])})",
            expr,
        )
        if expanded == expr:
            return expr
        expr = expanded
    raise AssertionError(f"locals nest too deep in {expr}")


def local_map(tf: Config, name: str) -> dict[str, Any]:
    """Return a map local, evaluating the two ``for`` expression shapes the module uses.

    ``{for k, v in local.m : k => v if k != "X"}`` (a filtered copy) and
    ``{for k in keys(local.m) : k => (k == "X" ? <expr> : "latest")}`` (one key differs).
    """
    value = tf.locals[name]
    if isinstance(value, dict):
        return value
    expr = _interpolated(value)
    filtered = re.fullmatch(
        r'\{for (\w+), (\w+) in local\.(\w+) : \1 => \2 if \1 != "([^"]+)"\}', expr
    )
    if filtered:
        source = local_map(tf, filtered.group(3))
        return {k: v for k, v in source.items() if k != filtered.group(4)}
    one_differs = re.fullmatch(
        r"\{for (\w+) in keys\(local\.(\w+)\) : \1 => "
        r'\(\1 == "([^"]+)" \? ([\w.\[\]"]+) : "([^"]+)"\)\}',
        expr,
    )
    if one_differs:
        source = local_map(tf, one_differs.group(2))
        special, then, other = one_differs.group(3, 4, 5)
        return {k: (then if k == special else other) for k in source}
    raise AssertionError(f"local.{name} is not a map this test can evaluate: {expr}")


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _arith(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return float(node.value)  # a string variable passed through tonumber()
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return float(_BINARY[type(node.op)](_arith(node.left), _arith(node.right)))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        functions: dict[str, Callable[..., float]] = {
            "ceil": math.ceil,
            "floor": math.floor,
            "tostring": lambda x: x,
            "tonumber": float,
            "max": max,
            "min": min,
            "pow": math.pow,
            # Terraform's log(x, base) is ln(x) / ln(base), as Python's.
            "log": math.log,
        }
        assert node.func.id in functions, f"unsupported function {node.func.id}"
        return functions[node.func.id](*(_arith(arg) for arg in node.args))
    raise AssertionError(f"not plain arithmetic: {ast.dump(node)}")


def evaluate(tf: Config, expr: Any, variables: dict[str, Any] | None = None) -> float:
    """Evaluate a numeric Terraform expression over locals and variables (defaults)."""
    values = {name: tf.default(name) for name in tf.variables}
    values.update(variables or {})
    text = _expand_locals(tf, _interpolated(expr))
    text = re.sub(r"\bvar\.(\w+)", lambda m: repr(values[m.group(1)]), text)
    return _arith(ast.parse(text, mode="eval"))


def service_container(tf: Config) -> dict[str, Any]:
    """The one container of the Cloud Run service."""
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    return _block(template, "containers")


def job_task(tf: Config, name: str = "reconcile") -> dict[str, Any]:
    """The task template (template.template) of a Cloud Run job (reconcile unless named)."""
    job = tf.resource("google_cloud_run_v2_job", name)
    return _block(_block(job, "template"), "template")


def job_container(tf: Config, name: str = "reconcile") -> dict[str, Any]:
    """The one container of a Cloud Run job (reconcile unless named)."""
    return _block(job_task(tf, name), "containers")


def env_sources(container: dict[str, Any]) -> list[str]:
    """The locals a container's dynamic env blocks iterate, in order."""
    return [
        _interpolated(dynamic["env"]["for_each"])
        for dynamic in container.get("dynamic", [])
        if "env" in dynamic
    ]


def container_env(tf: Config, container: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Map each Cloud Run env name to its block: ``value`` or ``value_source``.

    The service's container unless another (the reconcile job's) is given.
    """
    if container is None:
        container = service_container(tf)
    env: dict[str, dict[str, Any]] = {}
    for block in container.get("env", []):
        env[block["name"]] = block
    for dynamic in container.get("dynamic", []):
        if "env" not in dynamic:
            continue
        spec = dynamic["env"]
        source = re.fullmatch(r"local\.(\w+)", _interpolated(spec["for_each"]))
        assert source, f"env for_each must be a local map, not {spec['for_each']}"
        content = spec["content"][0]
        assert _interpolated(content["name"]) == "env.key"
        for key, value in local_map(tf, source.group(1)).items():
            assert key not in env, f"{key} set twice"
            block = {k: v for k, v in content.items() if k != "name"}
            if "value" in block:
                assert _interpolated(block["value"]) == "env.value"
                block["value"] = value
            env[key] = block
    return env


# --- Layout ------------------------------------------------------------------------------


def test_files_by_concern() -> None:
    present = {p.name for p in TERRAFORM.iterdir() if p.is_file()}
    assert present >= EXPECTED_FILES
    assert not {p for p in present if p.endswith(".tf")} - EXPECTED_FILES, "unexpected .tf file"


def test_providers_pinned_to_a_range(tf: Config) -> None:
    providers = tf.terraform[0]["required_providers"][0]
    assert {"google", "random"} <= set(providers)
    for name, spec in providers.items():
        assert spec["source"].startswith("hashicorp/"), name
        assert ">=" in spec["version"], name
        assert "<" in spec["version"].replace("<=", ""), f"{name} has no upper bound"
    assert "<" in tf.terraform[0]["required_version"]


def test_variables_typed_described_validated(tf: Config) -> None:
    for name, body in tf.variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) > 10, f"variable {name} is not described"
    must_validate = {
        "project_id",
        "region",
        "service_name",
        "image",
        "gunicorn_workers",
        "gunicorn_threads",
        "decode_budget_mb",
        "allowed_emails",
        "admin_emails",
        "allowed_domains",
        "share_delivery",
        "max_upload_mb",
        "reconcile_schedule",
        "reconcile_grace_minutes",
        "export_stream_max_mb",
        "export_keep_days",
    }
    for name in must_validate:
        assert tf.variables[name].get("validation"), f"variable {name} is not validated"


def test_tfvars_example_sets_only_known_non_secret_variables(tf: Config) -> None:
    example = _parse(TERRAFORM / "terraform.tfvars.example")
    assert set(example) <= set(tf.variables)
    assert {"project_id", "image"} <= set(example)
    assert not [key for key in example if re.search("secret|client|password|key", key)]


# --- Bucket ------------------------------------------------------------------------------


def test_bucket_is_private_and_uniform(tf: Config) -> None:
    bucket = tf.resource("google_storage_bucket", "images")
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["uniform_bucket_level_access"] is True


def test_no_public_member_except_cloud_run_invoker(tf: Config) -> None:
    public = []
    for (rtype, name), body in tf.resources.items():
        if any(member in s for s in _walk_strings(body) for member in PUBLIC_MEMBERS):
            public.append((rtype, name, body.get("role")))
    assert public == [
        ("google_cloud_run_v2_service_iam_member", "public_invoker", "roles/run.invoker")
    ]
    invoker = tf.resource("google_cloud_run_v2_service_iam_member", "public_invoker")
    assert invoker["member"] == "allUsers"
    assert _interpolated(invoker["name"]) == "google_cloud_run_v2_service.app.name"


def test_no_iam_on_the_bucket_besides_the_runtime_account(tf: Config) -> None:
    for rtype in ("google_storage_bucket_iam_binding", "google_storage_bucket_iam_policy"):
        assert not tf.of_type(rtype), f"{rtype} replaces or widens bucket access"
    members = tf.of_type("google_storage_bucket_iam_member")
    assert set(members) == {"runtime_objects", "reconcile_objects", "export_reads", "export_writes"}


def test_incoming_uploads_expire_after_a_day(tf: Config) -> None:
    rules = tf.resource("google_storage_bucket", "images")["lifecycle_rule"]
    incoming = [
        rule
        for rule in rules
        if _block(rule, "condition").get("matches_prefix") == ["incoming/"]
        and _block(rule, "action")["type"] == "Delete"
    ]
    assert len(incoming) == 1
    assert _block(incoming[0], "condition")["age"] == 1


def test_cors_allows_only_put_from_the_app_origin(tf: Config) -> None:
    cors = _block(tf.resource("google_storage_bucket", "images"), "cors")
    assert cors["method"] == ["PUT"]
    # Every header GcsBlobStore.upload_ticket has the browser send must pass the preflight.
    assert set(cors["response_header"]) == {
        "Content-Type",
        "x-goog-content-length-range",
        "x-goog-if-generation-match",
    }
    origins = _expand_locals(tf, _interpolated(cors["origin"]))
    assert "*" not in origins
    assert "var.service_name" in origins
    assert ".run.app" in origins
    assert origins.startswith("(concat([(https://"), origins


# --- Identity and secrets ----------------------------------------------------------------


def _is_runtime_member(tf: Config, member: Any) -> bool:
    return "google_service_account.runtime.email" in _expand_locals(tf, str(member))


def test_runtime_account_holds_exactly_the_listed_roles(tf: Config) -> None:
    granted = set()
    for (rtype, name), body in tf.resources.items():
        if not IAM_TYPE.match(rtype):
            continue
        members = [body.get("member", ""), *body.get("members", [])]
        if any(_is_runtime_member(tf, m) for m in members):
            assert rtype.endswith("_iam_member"), f"{rtype}.{name}: use additive _iam_member"
            granted.add((rtype, body["role"]))
    assert granted == RUNTIME_ROLES
    assert not tf.of_type("google_project_iam_binding")
    assert not tf.of_type("google_project_iam_policy")


def test_runtime_grants_are_scoped_to_its_own_resources(tf: Config) -> None:
    bucket = tf.resource("google_storage_bucket_iam_member", "runtime_objects")
    assert _interpolated(bucket["bucket"]) == "google_storage_bucket.images.name"

    secrets = tf.resource("google_secret_manager_secret_iam_member", "runtime_secrets")
    assert _interpolated(secrets["for_each"]) == "google_secret_manager_secret.app"
    assert _interpolated(secrets["secret_id"]) == "each.value.id"

    signer = tf.resource("google_service_account_iam_member", "runtime_signs_as_itself")
    assert _interpolated(signer["service_account_id"]) == "google_service_account.runtime.name"

    firestore = tf.resource("google_project_iam_member", "runtime_firestore")
    assert _interpolated(firestore["project"]) == "var.project_id"


def test_service_runs_as_the_runtime_account(tf: Config) -> None:
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    assert _interpolated(template["service_account"]) == "google_service_account.runtime.email"
    env = container_env(tf)
    assert _interpolated(env["PICBUCKET_SIGNING_SERVICE_ACCOUNT"]["value"]) == (
        "google_service_account.runtime.email"
    )


def test_every_secret_reaches_cloud_run_as_a_secret_ref(tf: Config) -> None:
    env = container_env(tf)
    assert set(tf.locals["secret_env"]) == SECRET_ENV
    for name in SECRET_ENV:
        assert "value" not in env[name], f"{name} is a plain value"
        ref = _block(_block(env[name], "value_source"), "secret_key_ref")
        assert _interpolated(ref["secret"]) == "google_secret_manager_secret.app[env.key].secret_id"
        assert _interpolated(ref["version"]) == "local.secret_versions[env.key]"
    versions = local_map(tf, "secret_versions")
    # The OAuth values are added by hand: instances read the newest. The session key is
    # the exact version Terraform made (test_rotating_the_session_key_leaves_no_gap).
    assert versions == {
        "PICBUCKET_SECRET_KEY": "google_secret_manager_secret_version.secret_key.version",
        "PICBUCKET_OIDC_CLIENT_ID": "latest",
        "PICBUCKET_OIDC_CLIENT_SECRET": "latest",
    }
    plain = {name for name, block in env.items() if "value" in block}
    assert not [n for n in plain if re.search("SECRET|PASSWORD|CLIENT_ID|TOKEN", n)]


def test_secret_values_never_pass_through_state_or_variables(tf: Config) -> None:
    secrets = tf.resource("google_secret_manager_secret", "app")
    assert _interpolated(secrets["for_each"]) == "local.secret_env"
    assert _block(_block(secrets, "replication"), "auto") == {}
    versions = tf.of_type("google_secret_manager_secret_version")
    # Only the generated session key gets a version from Terraform, sent write-only.
    assert set(versions) == {"secret_key"}
    version = versions["secret_key"]
    assert "secret_data" not in version
    assert _interpolated(version["secret_data_wo"]) == (
        "ephemeral.random_password.secret_key.result"
    )
    assert _interpolated(version["secret"]) == (
        'google_secret_manager_secret.app["PICBUCKET_SECRET_KEY"].id'
    )
    assert tf.ephemeral["random_password", "secret_key"]["length"] >= 32
    assert not [name for name in tf.variables if re.search("secret_value|client_secret", name)]


# --- Cloud Run -----------------------------------------------------------------------------


def test_production_environment(tf: Config) -> None:
    env = container_env(tf)
    expected = {
        "PICBUCKET_ENV": "production",
        "PICBUCKET_BLOB_STORE": "gcs",
        "PICBUCKET_RECORD_STORE": "firestore",
        "PICBUCKET_PROXY_HOPS": "1",
    }
    for name, value in expected.items():
        assert env[name]["value"] == value, name
    assert _interpolated(env["PICBUCKET_GCS_BUCKET"]["value"]) == (
        "google_storage_bucket.images.name"
    )
    # External URLs come from the service's own URL, not from request headers.
    assert _interpolated(env["PICBUCKET_SERVICE_URL"]["value"]) == "local.service_url"
    for name in (
        "PICBUCKET_GCP_PROJECT",
        "PICBUCKET_FIRESTORE_DATABASE",
        "PICBUCKET_SHARE_DELIVERY",
        "PICBUCKET_OIDC_ISSUER",
        "PICBUCKET_ALLOWED_EMAILS",
        "PICBUCKET_ALLOWED_DOMAINS",
        "PICBUCKET_MAX_UPLOAD_MB",
        "PICBUCKET_MAX_PIXELS",
        "PICBUCKET_DECODE_BUDGET_MB",
        "PICBUCKET_ADMIN_EMAILS",
        "PICBUCKET_LOG_LEVEL",
    ):
        assert name in env, name
    # Settings.from_env() reads no other PICBUCKET_ names than these and the workers.
    assert not [n for n in env if not n.startswith("PICBUCKET_")]


@pytest.mark.parametrize(("workers", "threads"), [(None, None), (1, 8), (2, 4), (3, 5)])
def test_concurrency_is_workers_times_threads(
    tf: Config, workers: int | None, threads: int | None
) -> None:
    values = {}
    if workers is not None:
        values = {"gunicorn_workers": workers, "gunicorn_threads": threads}
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    env = container_env(tf)
    concurrency = evaluate(tf, template["max_instance_request_concurrency"], values)
    env_workers = evaluate(tf, env["PICBUCKET_WORKERS"]["value"], values)
    env_threads = evaluate(tf, env["PICBUCKET_THREADS"]["value"], values)
    assert concurrency == env_workers * env_threads


def test_terraform_defaults_match_gunicorn_defaults(
    tf: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PICBUCKET_WORKERS", "PICBUCKET_THREADS", "PORT"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    assert evaluate(tf, template["max_instance_request_concurrency"]) == conf["concurrency"]()
    container = _block(template, "containers")
    assert _block(container, "ports")["container_port"] == 8080
    assert conf["bind"].endswith(":8080")


def test_probes_use_the_health_endpoints(tf: Config) -> None:
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    container = _block(template, "containers")
    startup = _block(container, "startup_probe")
    liveness = _block(container, "liveness_probe")
    assert _block(startup, "http_get")["path"] == "/readyz"
    assert _block(liveness, "http_get")["path"] == "/healthz"
    # Startup may take a cold start plus IAM propagation, but no longer than Cloud Run allows.
    assert startup["period_seconds"] * startup["failure_threshold"] <= 240


def test_scales_to_zero_with_cpu_only_during_requests(tf: Config) -> None:
    template = _block(tf.resource("google_cloud_run_v2_service", "app"), "template")
    scaling = _block(template, "scaling")
    assert tf.default(_interpolated(scaling["min_instance_count"]).removeprefix("var.")) == 0
    resources = _block(_block(template, "containers"), "resources")
    assert resources["cpu_idle"] is True
    assert resources["startup_cpu_boost"] is True


def service_memory_mib(tf: Config, variables: dict[str, Any] | None = None) -> float:
    """The memory Cloud Run gives an instance, as Terraform would compute it."""
    limits = _block(service_container(tf), "resources")["limits"]
    match = re.fullmatch(r"\$\{(local\.\w+)\}Mi", limits["memory"])
    assert match, f"memory must be a local in MiB, not {limits['memory']}"
    return evaluate(tf, match.group(1), variables)


def test_memory_is_1_gib_at_the_default_decode_budget(tf: Config) -> None:
    assert tf.default("decode_budget_mb") == 384
    # 256 baseline + 384 budget + 128 renditions and buffers = 768 -> 1 GiB (was 4 GiB).
    assert service_memory_mib(tf) == 1024
    env = container_env(tf)
    assert _interpolated(env["PICBUCKET_DECODE_BUDGET_MB"]["value"]) == (
        "tostring(var.decode_budget_mb)"
    )
    assert "memory_mib" not in tf.variables, "memory follows the budget; no second knob"


@pytest.mark.parametrize(
    ("budget", "memory"),
    [(64, 512), (128, 512), (129, 1024), (640, 1024), (641, 2048), (1664, 2048), (3000, 4096)],
)
def test_memory_is_the_next_cloud_run_size_above_budget_plus_overhead(
    tf: Config, budget: int, memory: int
) -> None:
    needed = 256 + budget + 128
    assert evaluate(tf, "local.memory_needed_mib", {"decode_budget_mb": budget}) == needed
    got = service_memory_mib(tf, {"decode_budget_mb": budget})
    assert got == memory
    assert got >= needed
    assert got in {512, 1024, 2048, 4096, 8192, 16384, 32768}


def test_memory_stays_within_what_the_cpu_allows(tf: Config) -> None:
    preconditions = tf.resource("google_cloud_run_v2_service", "app")["lifecycle"][0][
        "precondition"
    ]
    conditions = [str(p["condition"]) for p in preconditions]
    assert any("local.memory_mib <= local.max_memory_mib" in c for c in conditions)
    assert evaluate(tf, "local.max_memory_mib") == 4096  # 1 vCPU
    assert evaluate(tf, "local.max_memory_mib", {"cpu": "2"}) == 8192
    # An image at the pixel limit fits the budget on its own, at the defaults too.
    assert any("var.max_pixels * 4 <= var.decode_budget_mb * 1048576" in c for c in conditions)
    assert tf.default("max_pixels") * 4 <= tf.default("decode_budget_mb") * 2**20


def test_admin_emails_reach_the_app(tf: Config) -> None:
    assert tf.default("admin_emails") == []
    assert tf.variables["admin_emails"]["type"] == "${list(string)}"
    env = container_env(tf)
    assert _interpolated(env["PICBUCKET_ADMIN_EMAILS"]["value"]) == ('join(",", var.admin_emails)')


def test_allow_list_is_required(tf: Config) -> None:
    preconditions = tf.resource("google_cloud_run_v2_service", "app")["lifecycle"][0][
        "precondition"
    ]
    conditions = " ".join(str(p["condition"]) for p in preconditions)
    assert "var.allowed_emails" in conditions
    assert "var.allowed_domains" in conditions


def test_deletion_protection_on_by_default(tf: Config) -> None:
    assert tf.default("deletion_protection") is True
    service = tf.resource("google_cloud_run_v2_service", "app")
    assert _interpolated(service["deletion_protection"]) == "var.deletion_protection"
    database = tf.resource("google_firestore_database", "main")
    assert "var.deletion_protection" in database["delete_protection_state"]
    bucket = tf.resource("google_storage_bucket", "images")
    assert _interpolated(bucket["force_destroy"]) == "!var.deletion_protection"


# --- Firestore, registry, outputs --------------------------------------------------------


def test_firestore_native_with_indexes_from_the_shared_json(tf: Config) -> None:
    database = tf.resource("google_firestore_database", "main")
    assert database["type"] == "FIRESTORE_NATIVE"
    assert "jsondecode(file(" in tf.sources["firestore.tf"]
    assert '"${path.module}/../firestore.indexes.json"' in tf.sources["firestore.tf"]
    index = tf.resource("google_firestore_index", "composite")
    assert _interpolated(index["for_each"]) == "local.firestore_indexes"
    assert _interpolated(index["database"]) == "google_firestore_database.main.name"


def test_firestore_index_file_is_valid_and_keys_are_unique() -> None:
    config = json.loads((ROOT / "firestore.indexes.json").read_text())
    keys = []
    for index in config["indexes"]:
        assert index["queryScope"] in ("COLLECTION", "COLLECTION_GROUP")
        assert len(index["fields"]) >= 2, "a composite index has two fields or more"
        for field in index["fields"]:
            assert field.get("order") in ("ASCENDING", "DESCENDING") or field.get("arrayConfig")
        # The same key firestore.tf builds; Terraform fails on duplicates.
        parts = [index["collectionGroup"], index["queryScope"]]
        parts += [
            f"{f['fieldPath']}:{f.get('order', f.get('arrayConfig'))}" for f in index["fields"]
        ]
        keys.append(" ".join(parts))
    assert len(keys) == len(set(keys))
    overrides = [(o["collectionGroup"], o["fieldPath"]) for o in config.get("fieldOverrides", [])]
    assert len(overrides) == len(set(overrides))


def test_idempotency_keys_expire_by_a_firestore_ttl_policy(tf: Config) -> None:
    # firestore.tf turns each fieldOverride into a google_firestore_field, keyed as below,
    # with a ttl_config block where the override says "ttl": true.
    config = json.loads((ROOT / "firestore.indexes.json").read_text())
    fields = {f"{o['collectionGroup']} {o['fieldPath']}": o for o in config["fieldOverrides"]}
    expiry = fields["idempotency expires_at"]
    assert expiry["ttl"] is True
    assert expiry["indexes"] == [], "a TTL field is exempt from indexing (no hotspot)"
    # reconcile purges what TTL has not deleted yet: a collection-group range on created.
    scopes = {index["queryScope"] for index in fields["idempotency created"]["indexes"]}
    assert "COLLECTION_GROUP" in scopes
    field = tf.resource("google_firestore_field", "override")
    assert _interpolated(field["for_each"]) == "local.firestore_field_overrides"
    [ttl] = [block["ttl_config"] for block in field["dynamic"] if "ttl_config" in block]
    assert _interpolated(ttl["for_each"]) == "try(each.value.ttl, false) ? [1] : []"
    # The adapter writes the field the policy names, as a timestamp a day after creation.
    adapter = (ROOT / "src/picbucket/adapters/firestore_idempotency.py").read_text()
    assert 'IDEMPOTENCY = "idempotency"' in adapter and '"expires_at": record.created' in adapter


def test_registry_is_docker_with_cleanup(tf: Config) -> None:
    registry = tf.resource("google_artifact_registry_repository", "images")
    assert registry["format"] == "DOCKER"
    actions = {policy["action"] for policy in registry["cleanup_policies"]}
    assert actions == {"KEEP", "DELETE"}


def test_outputs_name_the_url_bucket_and_redirect_uri(tf: Config) -> None:
    outputs = tf.outputs
    assert _interpolated(outputs["service_url"]["value"]) == "local.service_url"
    assert outputs["oauth_redirect_uri"]["value"] == "${local.service_url}/auth/callback"
    assert _interpolated(outputs["bucket_name"]["value"]) == "google_storage_bucket.images.name"
    for name, body in outputs.items():
        assert body.get("description"), f"output {name} is not described"


# --- Scheduled reconcile -------------------------------------------------------------------

SCHEDULER_MEMBER = "google_service_account.scheduler[0].email"
COUNTED_BY_ENABLED = "var.reconcile_enabled ? 1 : 0"


def test_reconcile_job_runs_picbucket_reconcile(tf: Config) -> None:
    container = job_container(tf)
    assert container["command"] == ["picbucket"]
    args = container["args"]
    assert args[0] == "reconcile"
    assert "--dry-run" not in args, "the scheduled job must change things, not only report"
    grace = args[args.index("--grace-minutes") + 1]
    assert _interpolated(grace) == "tostring(var.reconcile_grace_minutes)"
    assert tf.default("reconcile_grace_minutes") >= 10
    conditions = [v["condition"] for v in tf.variables["reconcile_grace_minutes"]["validation"]]
    assert any("var.reconcile_grace_minutes >= 10" in c for c in conditions)
    # The image the service runs, not a separate build.
    assert _interpolated(container["image"]) == "var.image"
    assert container["image"] == service_container(tf)["image"]


def test_reconcile_job_runs_as_its_own_account(tf: Config) -> None:
    task = job_task(tf)
    assert _interpolated(task["service_account"]) == "google_service_account.reconcile.email"
    account = tf.resource("google_service_account", "reconcile")
    assert account["account_id"] == "${var.service_name}-job"


def test_reconcile_job_has_the_service_settings_but_not_the_oauth_secret(tf: Config) -> None:
    service, job = service_container(tf), job_container(tf)
    assert env_sources(job) == ["local.app_env", "local.reconcile_secret_env"]
    assert env_sources(service) == ["local.app_env", "local.export_runner_env", "local.secret_env"]
    assert "env" not in job, "set job env through local.app_env, as the service does"
    job_env, service_env = container_env(tf, job), container_env(tf)
    assert "PICBUCKET_OIDC_CLIENT_SECRET" not in job_env
    # Everything else is the service's, value for value, but the export runner's.
    not_for_jobs = {"PICBUCKET_OIDC_CLIENT_SECRET"} | EXPORT_RUNNER_ENV
    assert job_env == {k: v for k, v in service_env.items() if k not in not_for_jobs}
    for name in SECRET_ENV - {"PICBUCKET_OIDC_CLIENT_SECRET"}:
        assert "value" not in job_env[name], f"{name} is a plain value"


def test_reconcile_account_cannot_read_the_oauth_secret(tf: Config) -> None:
    grants = _grants_to(tf, "google_service_account.reconcile")
    assert {(rtype, body["role"]) for rtype, _, body in grants} == RECONCILE_ROLES
    secrets = tf.resource("google_secret_manager_secret_iam_member", "reconcile_secrets")
    assert _interpolated(secrets["for_each"]) == "local.reconcile_secret_env"
    assert _interpolated(secrets["secret_id"]) == "google_secret_manager_secret.app[each.key].id"
    readable = set(local_map(tf, "reconcile_secret_env"))
    assert readable == SECRET_ENV - {"PICBUCKET_OIDC_CLIENT_SECRET"}
    bucket = tf.resource("google_storage_bucket_iam_member", "reconcile_objects")
    assert _interpolated(bucket["bucket"]) == "google_storage_bucket.images.name"
    # It neither signs URLs nor acts as another account.
    assert not [g for g in grants if g[0] == "google_service_account_iam_member"]


def test_reconcile_job_bounds(tf: Config) -> None:
    job = tf.resource("google_cloud_run_v2_job", "reconcile")
    # Set explicitly: the provider's default (true) would block replacing the job.
    assert "deletion_protection" in job
    assert _block(job, "template")["task_count"] == 1
    task = job_task(tf)
    assert task["max_retries"] == 1
    timeout = int(task["timeout"].removesuffix("s"))
    # Every attempt finishes before the next hourly run starts.
    assert 60 <= timeout * (task["max_retries"] + 1) <= 3600
    limits = _block(job_container(tf), "resources")["limits"]
    assert limits == {"cpu": "1", "memory": "1Gi"}


def _grants_to(tf: Config, expression: str) -> list[tuple[str, str, dict[str, Any]]]:
    grants = []
    for (rtype, name), body in tf.resources.items():
        if not IAM_TYPE.match(rtype):
            continue
        members = [body.get("member", ""), *body.get("members", [])]
        if any(expression in _expand_locals(tf, str(m)) for m in members):
            grants.append((rtype, name, body))
    return grants


def test_scheduler_account_may_only_run_the_reconcile_job(tf: Config) -> None:
    account = tf.resource("google_service_account", "scheduler")
    assert _interpolated(account["count"]) == COUNTED_BY_ENABLED
    grants = _grants_to(tf, "google_service_account.scheduler")
    assert [(rtype, body["role"]) for rtype, _, body in grants] == [
        ("google_cloud_run_v2_job_iam_member", "roles/run.invoker")
    ]
    _, _, grant = grants[0]
    assert _interpolated(grant["name"]) == "google_cloud_run_v2_job.reconcile.name"
    assert _interpolated(grant["location"]) == "google_cloud_run_v2_job.reconcile.location"
    assert grant["member"] == f"serviceAccount:${{{SCHEDULER_MEMBER}}}"
    assert _interpolated(grant["count"]) == COUNTED_BY_ENABLED
    # Nothing project-wide, and no role on the runtime account (actAs) either.
    assert not [g for g in grants if g[0].startswith("google_project_")]


def test_scheduler_starts_the_job_through_the_run_api(tf: Config) -> None:
    scheduler = tf.resource("google_cloud_scheduler_job", "reconcile")
    assert _interpolated(scheduler["count"]) == COUNTED_BY_ENABLED
    assert tf.default("reconcile_enabled") is True
    assert _interpolated(scheduler["schedule"]) == "var.reconcile_schedule"
    assert len(tf.default("reconcile_schedule").split()) == 5
    assert scheduler["time_zone"] == "Etc/UTC"
    target = _block(scheduler, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == (
        "https://run.googleapis.com/v2/projects/${var.project_id}"
        "/locations/${google_cloud_run_v2_job.reconcile.location}"
        "/jobs/${google_cloud_run_v2_job.reconcile.name}:run"
    )
    oauth = _block(target, "oauth_token")
    assert _interpolated(oauth["service_account_email"]) == SCHEDULER_MEMBER
    assert "oidc_token" not in target, "Google APIs take an OAuth access token"
    depends_on = [_interpolated(d) for d in scheduler["depends_on"]]
    assert "google_project_service.enabled" in depends_on


def test_cloud_scheduler_api_is_enabled(tf: Config) -> None:
    assert '"cloudscheduler.googleapis.com"' in tf.locals["apis"]
    enabled = tf.resource("google_project_service", "enabled")
    assert _interpolated(enabled["for_each"]) == "local.apis"
    for rtype in ("google_cloud_run_v2_job", "google_service_account"):
        body = tf.resource(rtype, "reconcile" if rtype.endswith("job") else "scheduler")
        depends_on = [_interpolated(d) for d in body["depends_on"]]
        assert "google_project_service.enabled" in depends_on, rtype


# --- Export everything: the export job ----------------------------------------------------

EXPORT_MEMBER = "google_service_account.export.email"


def test_export_job_runs_picbucket_exports_build(tf: Config) -> None:
    job = tf.resource("google_cloud_run_v2_job", "export")
    assert "deletion_protection" in job
    template = _block(job, "template")
    assert (template["task_count"], template["parallelism"]) == (1, 1)
    container = job_container(tf, "export")
    # Each execution overrides the args with OWNER EXPORT_ID appended (the service's runner).
    assert container["command"] == ["picbucket"]
    assert container["args"] == ["exports", "build"]
    assert _interpolated(container["image"]) == "var.image"
    task = job_task(tf, "export")
    # The owner retries ("Try again"); Cloud Run must not rebuild a failed export behind them.
    assert task["max_retries"] == 0
    # Hours for a large library, within what Cloud Run allows a task (24 h).
    timeout = int(task["timeout"].removesuffix("s"))
    assert 3 * 3600 <= timeout <= 24 * 3600
    # Nothing is decoded: memory stays small, well under the service's.
    limits = _block(container, "resources")["limits"]
    assert limits["cpu"] == "1"
    assert limits["memory"] in {"512Mi", "1Gi"}


def test_export_job_args_are_the_cli_command_the_runner_completes(
    tf: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    args = job_container(tf, "export")["args"]
    # What the service's runner sends replaces the args: the job's, plus the two ids.
    assert CloudRunExportRunner.args("OWNER", "EXPORT") == [*args, "--", "OWNER", "EXPORT"]
    # The image's `picbucket` knows the command and wants exactly those two ids ...
    with pytest.raises(SystemExit) as done:
        picbucket_cli([*args, "--help"])
    assert done.value.code == 0
    assert "OWNER_ID EXPORT_ID" in capsys.readouterr().out
    # ... so an execution started without them (by hand, no overrides) stops at once.
    with pytest.raises(SystemExit) as done:
        picbucket_cli(args)
    assert done.value.code == 2
    assert "OWNER_ID" in capsys.readouterr().err


def test_export_job_has_the_jobs_settings_and_its_own_account(tf: Config) -> None:
    task = job_task(tf, "export")
    assert _interpolated(task["service_account"]) == EXPORT_MEMBER
    account = tf.resource("google_service_account", "export")
    assert account["account_id"] == "${var.service_name}-exp"
    container = job_container(tf, "export")
    assert env_sources(container) == ["local.app_env", "local.reconcile_secret_env"]
    assert "env" not in container
    env = container_env(tf, container)
    # The reconcile job's environment, value for value: no OAuth client secret, and not
    # the runner settings (the job does not start exports, and cannot name itself).
    assert env == container_env(tf, job_container(tf))
    assert not set(env) & ({"PICBUCKET_OIDC_CLIENT_SECRET"} | EXPORT_RUNNER_ENV)
    # It writes each export's expiry, so it reads the same keep_days as the service.
    assert _interpolated(env["PICBUCKET_EXPORT_KEEP_DAYS"]["value"]) == (
        "tostring(var.export_keep_days)"
    )
    depends_on = [
        _interpolated(d) for d in tf.resource("google_cloud_run_v2_job", "export")["depends_on"]
    ]
    for grant in ("export_reads", "export_writes"):
        assert f"google_storage_bucket_iam_member.{grant}" in depends_on


def test_export_account_reads_the_bucket_but_writes_only_under_exports(tf: Config) -> None:
    grants = _grants_to(tf, "google_service_account.export")
    assert {(rtype, body["role"]) for rtype, _, body in grants} == EXPORT_ROLES
    reads = tf.resource("google_storage_bucket_iam_member", "export_reads")
    writes = tf.resource("google_storage_bucket_iam_member", "export_writes")
    for grant in (reads, writes):
        assert _interpolated(grant["bucket"]) == "google_storage_bucket.images.name"
    assert "condition" not in reads
    # Create and delete: only objects whose name starts with the export prefix.
    condition = _block(writes, "condition")
    assert condition["expression"] == 'resource.name.startsWith("${local.export_objects}")'
    bucket_objects = "projects/_/buckets/${google_storage_bucket.images.name}/objects/"
    prefix = tf.locals["export_objects"].removeprefix(bucket_objects)
    assert prefix == "exports/"
    # Where the app writes export zips; photos live under users/, never under it.
    assert export_key("owner", "export").startswith(prefix)
    # A condition on a bucket binding needs uniform bucket-level access.
    assert tf.resource("google_storage_bucket", "images")["uniform_bucket_level_access"] is True
    # Every other grant: bucket-wide deletes (objectAdmin/objectUser) are conditioned.
    for rtype, name, body in grants:
        if rtype == "google_storage_bucket_iam_member" and "objectViewer" not in body["role"]:
            assert "condition" in body, name
    secrets = tf.resource("google_secret_manager_secret_iam_member", "export_secrets")
    assert _interpolated(secrets["for_each"]) == "local.reconcile_secret_env"
    # It neither signs URLs nor acts as another account.
    assert not [g for g in grants if g[0] == "google_service_account_iam_member"]


def test_service_starts_exports_with_the_export_job(tf: Config) -> None:
    env = container_env(tf)
    assert env["PICBUCKET_EXPORT_MODE"]["value"] == "job"
    assert _interpolated(env["PICBUCKET_EXPORT_JOB"]["value"]) == (
        "google_cloud_run_v2_job.export.id"
    )
    for name, variable in (
        ("PICBUCKET_EXPORT_STREAM_MAX_MB", "export_stream_max_mb"),
        ("PICBUCKET_EXPORT_KEEP_DAYS", "export_keep_days"),
    ):
        assert _interpolated(env[name]["value"]) == f"tostring(var.{variable})"
    # Terraform's defaults are the app's defaults.
    defaults = Settings()
    assert tf.default("export_stream_max_mb") == defaults.export_stream_max_mb
    assert tf.default("export_keep_days") == defaults.export_keep_days
    # The job's id (projects/<p>/locations/<r>/jobs/<name>) passes the app's check, for
    # the longest service_name too.
    job_name = _interpolated(tf.locals["export_job_name"])
    for service_name in ("picbucket", "a" + "b" * 24 + "c"):
        name = job_name.replace("${var.service_name}", service_name)
        full = f"projects/my-project-123/locations/europe-west1/jobs/{name}"
        settings = Settings.from_env({"PICBUCKET_EXPORT_MODE": "job", "PICBUCKET_EXPORT_JOB": full})
        assert settings.export_job == full


def test_runtime_may_run_only_the_export_job(tf: Config) -> None:
    grants = [g for g in _grants_to(tf, "google_service_account.runtime") if "run" in g[0]]
    assert [(rtype, name) for rtype, name, _ in grants] == [
        ("google_cloud_run_v2_job_iam_member", "runtime_runs_export")
    ]
    grant = grants[0][2]
    assert grant["role"] == "roles/run.jobsExecutorWithOverrides"
    assert _interpolated(grant["name"]) == "google_cloud_run_v2_job.export.name"
    assert _interpolated(grant["location"]) == "google_cloud_run_v2_job.export.location"
    # No Cloud Run role at project level, for anyone.
    project_roles = [body["role"] for body in tf.of_type("google_project_iam_member").values()]
    assert not [role for role in project_roles if role.startswith("roles/run.")]
    # The first export must be startable as soon as the service serves.
    service = tf.resource("google_cloud_run_v2_service", "app")
    depends_on = [_interpolated(d) for d in service["depends_on"]]
    assert "google_cloud_run_v2_job_iam_member.runtime_runs_export" in depends_on


def test_export_zips_are_deleted_by_the_bucket_a_day_after_reconcile_would(tf: Config) -> None:
    rules = tf.resource("google_storage_bucket", "images")["lifecycle_rule"]
    exports = [
        rule
        for rule in rules
        if _block(rule, "condition").get("matches_prefix") == ["exports/"]
        and _block(rule, "action")["type"] == "Delete"
    ]
    assert len(exports) == 1
    age = _block(exports[0], "condition")["age"]
    assert _interpolated(age) == "var.export_keep_days + 1"
    assert evaluate(tf, age) == tf.default("export_keep_days") + 1 == 8
    assert evaluate(tf, age, {"export_keep_days": 30}) == 31


# --- Least privilege: the runtime account signs, it does not mint tokens --------------------


def test_runtime_may_sign_but_not_mint_tokens(tf: Config) -> None:
    role = tf.resource("google_project_iam_custom_role", "sign_blob")
    assert role["permissions"] == ["iam.serviceAccounts.signBlob"]
    binding = tf.resource("google_service_account_iam_member", "runtime_signs_as_itself")
    assert binding["role"] == "${google_project_iam_custom_role.sign_blob.id}"
    # On itself, and for itself only.
    assert _interpolated(binding["service_account_id"]) == "google_service_account.runtime.name"
    assert _is_runtime_member(tf, binding["member"])
    # No predefined role that carries getAccessToken / getOpenIdToken, anywhere.
    roles = [
        body.get("role", "") for (rtype, _), body in tf.resources.items() if IAM_TYPE.match(rtype)
    ]
    assert not [
        r for r in roles if "serviceAccountTokenCreator" in r or "workloadIdentityUser" in r
    ]


# --- Session key rotation --------------------------------------------------------------------


def test_rotating_the_session_key_leaves_no_gap(tf: Config) -> None:
    version = tf.resource("google_secret_manager_secret_version", "secret_key")
    # The new version exists before the old one is destroyed ...
    assert version["lifecycle"] == [{"create_before_destroy": True}]
    assert _interpolated(version["secret_data_wo_version"]) == "var.secret_key_version"
    # ... and the service and the job name that exact version, so Terraform destroys the
    # old version only after both have been updated to read the new one.
    pinned = local_map(tf, "secret_versions")["PICBUCKET_SECRET_KEY"]
    assert pinned == "google_secret_manager_secret_version.secret_key.version"
    for container in (service_container(tf), job_container(tf), job_container(tf, "export")):
        ref = _block(
            _block(container_env(tf, container)["PICBUCKET_SECRET_KEY"], "value_source"),
            "secret_key_ref",
        )
        assert _interpolated(ref["version"]) == "local.secret_versions[env.key]"
    # Never "disable" or "abandon" a version on destroy: the old key must really go.
    assert "deletion_policy" not in version


# --- Share tokens and the request log ----------------------------------------------------------


def _exclusion_filter(tf: Config, service_name: str = "picbucket") -> str:
    """The exclusion's filter as Cloud Logging receives it, for one service name."""
    exclusion = tf.resource("google_logging_project_exclusion", "share_token_requests")
    expr = _interpolated(exclusion["filter"])
    match = re.fullmatch(r'join\(" AND ", \[(.*)\]\)', expr, flags=re.DOTALL)
    assert match, f'filter must be join(" AND ", [...]), not {expr}'
    parts = [json.loads(part) for part in re.findall(r'"(?:[^"\\]|\\.)*"', match.group(1))]
    text = " AND ".join(parts)
    return text.replace("${var.service_name}", service_name).replace(
        "${var.project_id}", "my-project"
    )


def test_request_log_entries_of_share_links_are_excluded(tf: Config) -> None:
    text = _exclusion_filter(tf)
    assert 'resource.type = "cloud_run_revision"' in text
    assert 'resource.labels.service_name = "picbucket"' in text
    assert 'logName = "projects/my-project/logs/run.googleapis.com%2Frequests"' in text
    pattern = re.search(r'httpRequest\.requestUrl =~ "([^"]+)"', text)
    assert pattern, text
    # The logging regex is RE2; this one is also valid Python and means the same there.
    url = re.compile(pattern.group(1))
    for shared in (
        "https://picbucket-123.europe-west1.run.app/s/Zx8kTq3",
        "https://pics.example.com/s/Zx8kTq3/raw",
    ):
        assert url.search(shared), shared
    for other in (
        "https://picbucket-123.europe-west1.run.app/",
        "https://picbucket-123.europe-west1.run.app/images/s/x",
        "https://picbucket-123.europe-west1.run.app/static/s/app.css",
        "https://picbucket-123.europe-west1.run.app/settings?next=/s/x",
    ):
        assert not url.search(other), other


def test_logging_api_is_enabled_for_the_exclusion(tf: Config) -> None:
    assert '"logging.googleapis.com"' in tf.locals["apis"]


# --- GitHub Actions pinned by commit ----------------------------------------------------------

# `uses: owner/repo@ref  # comment`, as a step key or a list item, quoted or not.
USES_LINE = re.compile(r"""^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+)["']?\s*(#.*)?$""")


def test_every_action_is_pinned_to_a_commit_sha() -> None:
    workflows = sorted(WORKFLOWS.glob("*.y*ml"))
    assert workflows
    seen = 0
    for path in workflows:
        for line in path.read_text().splitlines():
            if not re.match(r"^\s*(?:-\s+)?uses:", line):
                continue
            match = USES_LINE.match(line)
            assert match, f"{path.name}: cannot read {line!r}"
            seen += 1
            ref, comment = match.groups()
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref}"
            # The release the SHA stands for is written next to it, for the next update.
            assert comment and re.fullmatch(r"# v\d+\.\d+\.\d+", comment), line
    assert seen >= 5


# --- The CI deployer (terraform/bootstrap) ------------------------------------------------------

DEPLOYER_MEMBER = "serviceAccount:${google_service_account.deployer.email}"
# Roles that administer IAM or impersonate: none may be granted to the deployer on the project.
FORBIDDEN_PROJECT_ROLES = {
    "roles/owner",
    "roles/editor",
    "roles/resourcemanager.projectIamAdmin",
    "roles/iam.securityAdmin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountKeyAdmin",
    "roles/iam.roleAdmin",
    "roles/iam.workloadIdentityUser",
}
# Permissions that would let it change who may do what, or become another account.
ESCALATING = re.compile(
    r"setIamPolicy|\.create$|\.delete$|\.update$|actAs|getAccessToken|getOpenIdToken"
    r"|signBlob|signJwt|implicitDelegation|serviceAccountKeys"
)


@pytest.fixture(scope="module")
def boot() -> Config:
    return Config(BOOTSTRAP)


def _set_items(tf: Config, local: str) -> list[str]:
    """The strings of a ``toset([...])`` local."""
    return re.findall(r'"([^"]+)"', _interpolated(tf.locals[local]))


def _deployer_project_roles(boot: Config) -> list[str]:
    roles = []
    for name, body in boot.of_type("google_project_iam_member").items():
        if DEPLOYER_MEMBER not in _expand_locals(boot, str(body["member"])):
            continue
        role = _interpolated(body["role"])
        if role == "each.value":
            assert _interpolated(body["for_each"]) == "local.deployer_project_roles", name
            roles += _set_items(boot, "deployer_project_roles")
        else:
            roles.append(role)
    return roles


def test_deployer_holds_no_project_role_that_administers_iam(boot: Config) -> None:
    roles = _deployer_project_roles(boot)
    assert roles, "the deployer has no project role at all: the fixture is wrong"
    assert not set(roles) & FORBIDDEN_PROJECT_ROLES
    assert set(roles) == {
        "roles/run.admin",
        "roles/cloudscheduler.admin",
        "roles/datastore.owner",
        "roles/serviceusage.serviceUsageAdmin",
        "google_project_iam_custom_role.deployer_reader.id",
    }
    for rtype in ("google_project_iam_binding", "google_project_iam_policy"):
        assert not boot.of_type(rtype)
    # The suppressions that excused project-wide actAs / account admin are gone.
    assert not re.search(r"checkov:skip=CKV_GCP_(41|49)", (BOOTSTRAP / "main.tf").read_text())


def test_deployer_reader_role_only_reads(boot: Config) -> None:
    permissions = boot.resource("google_project_iam_custom_role", "deployer_reader")["permissions"]
    assert permissions
    assert not [p for p in permissions if ESCALATING.search(p)]
    assert all(re.search(r"\.(get|list|getIamPolicy)$", p) for p in permissions)


def test_deployer_acts_only_as_the_accounts_it_deploys_workloads_with(
    tf: Config, boot: Config
) -> None:
    acts = boot.resource("google_service_account_iam_member", "deployer_acts_as")
    assert acts["role"] == "roles/iam.serviceAccountUser"
    assert _interpolated(acts["for_each"]) == "local.account_emails"
    assert acts["service_account_id"] == "projects/${var.project_id}/serviceAccounts/${each.value}"
    # merge({runtime = "...", reconcile = "...", export = "..."},
    #       var.reconcile_enabled ? {scheduler = "..."} : {})
    expr = _interpolated(boot.locals["account_emails"])
    emails = dict(re.findall(r'(\w+) = "([^"]+)"', expr))
    assert re.search(r"var\.reconcile_enabled \? \{scheduler = ", expr), expr
    assert boot.default("reconcile_enabled") == tf.default("reconcile_enabled")
    suffix = "@${var.project_id}.iam.gserviceaccount.com"
    # The very accounts the main configuration attaches to workloads, by account id.
    for key, resource in (
        ("runtime", "runtime"),
        ("reconcile", "reconcile"),
        ("scheduler", "scheduler"),
        ("export", "export"),
    ):
        assert emails[key] == tf.resource("google_service_account", resource)["account_id"] + suffix
    assert set(emails) == {"runtime", "reconcile", "scheduler", "export"}
    attached = {
        _interpolated(
            _block(tf.resource("google_cloud_run_v2_service", "app"), "template")["service_account"]
        ),
        _interpolated(job_task(tf)["service_account"]),
        _interpolated(job_task(tf, "export")["service_account"]),
        _interpolated(
            _block(
                _block(tf.resource("google_cloud_scheduler_job", "reconcile"), "http_target"),
                "oauth_token",
            )["service_account_email"]
        ),
    }
    assert attached == {
        "google_service_account.runtime.email",
        "google_service_account.reconcile.email",
        "google_service_account.scheduler[0].email",
        "google_service_account.export.email",
    }


def test_deployer_resource_grants_name_the_main_configurations_resources(
    tf: Config, boot: Config
) -> None:
    secrets = boot.resource("google_secret_manager_secret_iam_member", "deployer_secrets")
    assert _interpolated(secrets["for_each"]) == "local.secret_ids"
    assert set(_set_items(boot, "secret_ids")) == set(tf.locals["secret_env"].values())
    bucket = boot.resource("google_storage_bucket_iam_member", "deployer_images_bucket")
    assert _interpolated(bucket["bucket"]) == "local.image_bucket"
    assert _interpolated(boot.locals["image_bucket"]) == (
        _interpolated(tf.locals["bucket_name"]).replace("var.bucket_name", "var.image_bucket_name")
    )
    registry = boot.resource("google_artifact_registry_repository_iam_member", "deployer_registry")
    assert _interpolated(registry["repository"]) == "var.artifact_repository_id"
    assert boot.default("artifact_repository_id") == tf.default("artifact_repository_id")
    assert boot.default("service_name") == tf.default("service_name")
    # The state bucket is the one bucket-level grant besides the images bucket.
    assert set(boot.of_type("google_storage_bucket_iam_member")) == {
        "deployer_state",
        "deployer_images_bucket",
    }
