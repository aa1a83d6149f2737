"""Config: every option of every group composes into a valid RunSpec; errors name the key."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import MissingConfigException
from omegaconf import OmegaConf

from olist_pipeline.config.compose import compose_spec
from olist_pipeline.config.compose import compose_config
from olist_pipeline.errors import ConfigError
from olist_pipeline.paths import CONF_DIR, PROJECT_ROOT
from olist_pipeline.config.compose import flatten

from tests.conftest import cli

GROUPS = [
    "pipeline", "dataset", "cleaning", "features", "split", "model", "evaluation", "stack", "tracking", "promotion", "serving", "experiment",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


#: Options that need another group's option to make sense (a feature set of another declared table).
COMPANIONS = {
    ("features", "kaggle"): ["dataset=olist_kaggle"],
    ("features", "penguins"): ["dataset=penguins"],
    ("dataset", "penguins"): ["features=penguins"],
    ("pipeline", "compare"): ["a=1", "b=2"],  # the two versions it compares
}


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_option_composes_into_a_valid_spec(group, option):
    spec, yaml_text, params = compose_spec(compose_config([f"{group}={option}", *COMPANIONS.get((group, option), [])]))
    if group == "experiment":  # a `# @package _global_` bundle: it sets other groups' keys
        assert spec.model is not None
        return
    assert getattr(spec, group) is not None
    assert f"{group}." in " ".join(params)
    assert yaml_text.startswith("pipeline:")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_overlays_compose(env):
    spec, _, _ = compose_spec(compose_config([f"+env={env}"]))
    assert spec.env == env


def test_dev_and_prod_differ_only_in_overlay_keys():
    def flat(overrides):
        return compose_spec(compose_config(overrides))[2]

    base, dev, prod = flat([]), flat(["+env=dev"]), flat(["+env=prod"])
    overlay_keys: set[str] = set()
    reselected_groups: set[str] = set()
    for name in ("dev", "prod"):
        overlay = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "env" / f"{name}.yaml"))
        for entry in overlay.pop("defaults", []):
            reselected_groups |= {k.removeprefix("override /") for k in entry}
        overlay_keys |= set(flatten(overlay))
    for key in set(base) | set(dev) | set(prod):
        values = {base.get(key), dev.get(key), prod.get(key)}
        if len(values) > 1:
            assert key in overlay_keys or key.split(".")[0] in reselected_groups, key


def test_no_env_specific_branches_in_code():
    for path in (PROJECT_ROOT / "olist_pipeline").rglob("*.py"):
        text = path.read_text()
        assert "== \"prod\"" not in text and "== 'prod'" not in text, path


def test_relative_paths_resolve_against_project_root():
    spec, _, _ = compose_spec(compose_config(["dataset.path=data/other.csv", "paths.state_dir=rel_state"]))
    assert spec.dataset.path == str(PROJECT_ROOT / "data" / "other.csv")
    assert spec.paths["state_dir"] == str(PROJECT_ROOT / "rel_state")


def test_unknown_option_lists_choices():
    with pytest.raises(MissingConfigException) as err:
        compose_config(["model=ridgee"])
    assert "ridge" in str(err.value.options) and "hist_gradient_boosting" in str(err.value.options)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["+cleaning.strateggy=x"], "cleaning.strateggy: unknown key"),
        (["split.test_size=abc"], "split.test_size: Input should be a valid number"),
        (["split.test_size=1.5"], "split.test_size: Input should be less than 1"),
        (["cleaning.strategy=magic"], "cleaning.strategy: Input should be 'impute_median' or 'drop_incomplete'"),
        (["features.numeric=[price,review_score]"], "would leak the target"),
    ],
)
def test_invalid_config_is_named(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        compose_spec(compose_config(overrides))
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["model=ridge", "model.alpha=-1"], "model=ridge: The 'alpha' parameter of Ridge must be"),
        (["model=ridge", "+model.alpah=3"], "model=ridge: unknown parameter(s) ['alpah'] for Ridge"),
        (["features.derived=[delivery_dayz]"], "features.derived: unknown derived feature(s) ['delivery_dayz']"),
    ],
)
def test_the_training_jobs_model_check_names_the_problem(overrides, fragment):
    from olist_pipeline.runs.common import check_model

    spec, _, _ = compose_spec(compose_config(overrides))
    with pytest.raises(ConfigError) as err:
        check_model(spec)
    assert str(err.value).startswith("invalid configuration: ") and fragment in str(err.value)


def test_help_and_cfg_do_not_import_the_heavy_stack():
    code = (  # at exit: `python -m olist_pipeline` ends the process itself (after the atexit handlers)
        "import atexit, sys, runpy\n"
        "atexit.register(lambda: print('HEAVY', 'zenml' in sys.modules, 'mlflow' in sys.modules))\n"
        "sys.argv = ['olist_pipeline', '--cfg', 'job']\n"
        "runpy.run_module('olist_pipeline', run_name='__main__')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120).stdout
    assert "model:" in out and "HEAVY False False" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["model=ridgee"], "Available options in 'model'"),
        (["split.test_size=abc"], "error: invalid configuration: conf/split/grouped.yaml: split.test_size"),
        (["model.alpah=3"], "Could not override 'model.alpah'"),
        (["dataset.path=/nonexistent/orders.csv"], "error: /nonexistent/orders.csv: file not found"),
        (["dataset.path={empty}"], "file is empty"),
        (["dataset.path={folder}"], "empty.csv: file is empty"),
        (["model=ridge", "model.alpha=-1"], "error: invalid configuration: model=ridge: The 'alpha' parameter of Ridge"),
        (["features=seed", "features.numeric=[price,prize]"], "features.seed: column(s) ['prize'] not declared by dataset 'sample'"),
        (["dataset=olist_kaggle", "dataset.path={folder}"], "missing Kaggle table(s) ['olist_orders_dataset.csv'"),
    ],
)
def test_cli_config_errors_are_one_clear_message(args, fragment, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    args = [a.format(empty=tmp_path / "empty.csv", folder=tmp_path) for a in args]
    result = cli(*args)
    assert result.returncode != 0
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cli_help_lists_groups():
    result = cli("--help")
    assert result.returncode == 0
    assert "model: hist_gradient_boosting, hist_gradient_boosting_classifier, hist_gradient_boosting_per_order" in result.stdout
    assert "task: binary, regression" in result.stdout


def test_the_model_check_reports_a_bad_estimator_argument_and_an_unknown_derived_feature_together():
    from olist_pipeline.runs.common import check_model

    with pytest.raises(ConfigError) as err:
        check_model(compose_spec(compose_config(["model=ridge", "model.alpha=-1", "features.derived=[dayz]"]))[0])
    assert "The 'alpha' parameter of Ridge" in str(err.value) and "unknown derived feature(s) ['dayz']" in str(err.value)


def test_composing_the_spec_imports_no_scikit_learn():
    """`--cfg`, `--help` and an identical re-run do not pay for scikit-learn (check_model does, in the job)."""
    code = (
        "import sys\n"
        "from olist_pipeline.config.compose import compose_config, compose_spec\n"
        "compose_spec(compose_config(['model=ridge', 'features=kaggle', 'dataset=olist_kaggle']))\n"
        "print('SKLEARN', 'sklearn' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert "SKLEARN False" in out.stdout, out.stderr


def test_a_bad_estimator_parameter_stops_the_cli_before_anything_is_created(tmp_path):
    result = cli("model=ridge", "model.alpha=-1", state_dir=tmp_path / "state")
    assert result.returncode != 0 and "The 'alpha' parameter of Ridge" in result.stderr
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["hydra"]  # no ZenML/MLflow state
