"""Terraform's own evaluation of infra/'s variables (with their validations), locals and the API
document, without any provider: `terraform console` in a scratch copy of the files that declare no
resource (main.tf holds only locals, by design). What a first `plan` would compute or refuse from
the inputs alone is computed or refused here, by the same Terraform binary."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from local.catalog import ROOT

INFRA = ROOT / "infra"
RESOURCE_FREE_FILES = ("main.tf", "variables.tf", "functions.json", "sizes.json", "topics.json", "openapi.json")
OUTSIDE_FILES = ("common/providers/catalogue.json",)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EvaluationError(RuntimeError):
    """Terraform refused the inputs or the expression; the message is Terraform's, uncoloured."""


def terraform() -> str:
    found = shutil.which("terraform")
    if found is None:
        raise EvaluationError("terraform is not installed (https://developer.hashicorp.com/terraform/install)")
    return found


def evaluate(expressions: dict[str, str], variables: dict, var_file: pathlib.Path | None = None) -> dict:
    """The values of named HCL expressions, evaluated by `terraform console` with these variables
    (after those of var_file, such as infra/env/prod.tfvars, when given)."""
    body = ", ".join(f"{name} = {expression}" for name, expression in expressions.items())
    with tempfile.TemporaryDirectory(prefix="tf-eval-") as scratch:
        module = pathlib.Path(scratch) / "infra"
        module.mkdir()
        for name in RESOURCE_FREE_FILES:
            shutil.copy(INFRA / name, module / name)
        for name in OUTSIDE_FILES:  # read by main.tf from the repository, at the same relative place
            (module.parent / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, module.parent / name)
        (module / "inputs.tfvars.json").write_text(json.dumps(variables))
        result = subprocess.run(
            [terraform(), "console", *([f"-var-file={var_file}"] if var_file else []), "-var-file=inputs.tfvars.json"],
            input=f"jsonencode({{{body}}})\n",
            cwd=module,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"},
        )
    *warnings, value = result.stdout.strip().splitlines() or [""]
    if result.returncode != 0 or warnings:  # a warning is an undeclared variable: a misspelt input
        raise EvaluationError(ANSI.sub("", result.stderr + "\n".join(warnings)))
    return json.loads(json.loads(value))
