"""`standardized` data: the model sees centred, scaled inputs and targets; everything a user reads is in data units.

Ground truth: a standardized model on raw data is the plain model on data standardized by hand, so its log
density differs by exactly -N log(sd_y), and its predictions are the plain model's mapped back by y = m + s z.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpyro.infer.util import log_density

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.posterior.predict import log_predictive_density, predictive_draws

NET = """
data {{
  x: real[N, 1]{s}
  y: real[N]{s}
}}

param sigma ~ HalfNormal(1)

network mlp(x) -> real[N] {{
  dense(10, tanh)
  dense(1)
}}

observe y ~ {lik}

infer nuts(chains = 1, warmup = 150, samples = 100)
"""

GP = """
data {{
  x: real[N, 1]{s}
  y: real[N]{s}
}}

param ls ~ LogNormal(0, 1)
param sigma ~ HalfNormal(1)

gp f ~ GP(0, RBF(ls)) on x

observe y ~ Normal(f, sigma)

infer nuts(chains = 1, warmup = 150, samples = 100)
"""

X_SHIFT, X_SCALE, Y_SHIFT, Y_SCALE = 500.0, 100.0, 1000.0, 50.0


def _write(path, x, y) -> str:
    np.savetxt(path, np.c_[x, y], delimiter=",", header="x,y", comments="")
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Raw data (x ~ 500 + 100 u, y ~ 1000 + 50 (sin 3u + noise)), and the same standardized by hand."""
    d = tmp_path_factory.mktemp("std")
    rng = np.random.default_rng(0)
    u, ut = rng.uniform(-2, 2, 60), rng.uniform(-2, 2, 40)
    x, xt = X_SHIFT + X_SCALE * u, X_SHIFT + X_SCALE * ut
    y = Y_SHIFT + Y_SCALE * (np.sin(3 * u) + 0.1 * rng.normal(size=u.size))
    yt = Y_SHIFT + Y_SCALE * (np.sin(3 * ut) + 0.1 * rng.normal(size=ut.size))
    stats = {"mx": x.mean(), "sx": x.std(), "my": y.mean(), "sy": y.std()}

    def z(a, b):
        return (a - stats["mx"]) / stats["sx"], (b - stats["my"]) / stats["sy"]

    return {
        "dir": d,
        "stats": stats,
        "raw": _write(d / "raw.csv", x, y),
        "raw_test": _write(d / "raw_test.csv", xt, yt),
        "std": _write(d / "std.csv", *z(x, y)),
        "std_test": _write(d / "std_test.csv", *z(xt, yt)),
        "y_test": yt,
    }


def _pair(template: str, lik: str = "Normal(mlp(x), sigma)"):
    scaled = Model.from_source(template.format(s=" standardized", lik=lik), "scaled.bnn")
    plain = Model.from_source(template.format(s="", lik=lik), "plain.bnn")
    return scaled, plain


@pytest.mark.parametrize(
    "template, lik",
    [
        (NET, "Normal(mlp(x), sigma)"),
        (NET, "StudentT(4, mlp(x), sigma)"),
        (NET, "Laplace(mlp(x), sigma)"),
        (GP, ""),  # a collapsed GP: y ~ MultivariateNormal in training
    ],
    ids=["normal", "student_t", "laplace", "gp"],
)
def test_log_density_is_the_plain_models_on_standardized_data_minus_the_jacobian(files, template, lik):
    scaled, plain = _pair(template, lik)
    ps = scaled.problem(scaled.data(files["raw"]))
    pp = plain.problem(plain.data(files["std"]))
    assert ps.data["_shift_y"] == pytest.approx(files["stats"]["my"], rel=1e-5)
    assert ps.data["_scale_x"] == pytest.approx(files["stats"]["sx"], rel=1e-5)
    rng = np.random.default_rng(1)
    n = 60
    for _ in range(3):
        params = {"sigma": np.float32(rng.uniform(0.1, 1.0)), "ls": np.float32(rng.uniform(0.2, 2.0))}
        if template is NET:
            params = {
                "sigma": params["sigma"],
                "mlp.0.weight": rng.normal(size=(1, 10)).astype(np.float32),
                "mlp.0.bias": rng.normal(size=10).astype(np.float32),
                "mlp.1.weight": rng.normal(size=(10, 1)).astype(np.float32),
                "mlp.1.bias": rng.normal(size=1).astype(np.float32),
            }
        ls, _ = log_density(scaled.numpyro_model, (), ps.data, params)
        lp, _ = log_density(plain.numpyro_model, (), pp.data, params)
        assert float(ls) == pytest.approx(
            float(lp) - n * np.log(files["stats"]["sy"]), abs=2e-3 * abs(float(lp)) + 1e-2
        )


@pytest.mark.parametrize("template", [NET, GP], ids=["network", "gp"])
def test_predictions_and_held_out_density_come_back_in_data_units(files, template):
    """The same posterior draws through both models: the standardized one's outputs are the plain one's mapped
    back (the GP case also checks that its training data and the exact held-out density are standardized)."""
    scaled, plain = _pair(template.replace("mlp(x)", "mlp(x)"))
    run = scaled.run(files["raw"], backend="nuts", seed=3)
    my, sy = files["stats"]["my"], files["stats"]["sy"]
    ds = run.predictive_draws(files["raw_test"], max_draws=None, seed=5)["y"]
    # the plain model's view of the same run: the training data as standardized by hand
    test = plain.data(files["std_test"]).model_kwargs(plain.checked)
    if template is GP:
        test["_train"] = dict(plain.data(files["std"]).arrays)
    dp = predictive_draws(plain.module, plain.checked, run.idata, {**test, "y": None}, 5)["y"]
    np.testing.assert_allclose(ds["mean"], my + sy * dp["mean"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ds["var"], sy**2 * dp["var"], rtol=1e-3)
    np.testing.assert_allclose(ds["draws"], my + sy * dp["draws"], rtol=1e-4, atol=1e-2)
    ls = run.log_predictive_density(files["raw_test"])["y"]
    lp = log_predictive_density(plain.module, run.idata, test, 1000)["y"]
    np.testing.assert_allclose(ls, lp - np.log(sy), atol=2e-3)
    # and the posterior is a sound one: held-out error in data units near the noise (5), far below sd(y)
    rmse = np.sqrt(np.mean((ds["mean"].mean(axis=0) - files["y_test"]) ** 2))
    assert rmse < 0.5 * sy


@pytest.mark.long  # ~30 s: run by CI with the other long checks (README's test command stays under 10 min)
def test_cli_run_predict_and_report_speak_data_units(files, tmp_path, capsys):
    model = tmp_path / "scaled.bnn"
    model.write_text(NET.format(s=" standardized", lik="Normal(mlp(x), sigma)"))
    out = tmp_path / "run"
    assert main(["run", str(model), "--data", files["raw"], "-o", str(out), "-q"]) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["standardized"]["y"]["shift"] == pytest.approx(files["stats"]["my"], rel=1e-5)
    assert settings["standardized"]["x"]["scale"] == [pytest.approx(files["stats"]["sx"], rel=1e-5)]
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out), "--data", files["raw_test"], "-o", str(pred)]) == 0
    table = np.genfromtxt(pred, delimiter=",", names=True)
    assert np.allclose(table["x"], np.loadtxt(files["raw_test"], delimiter=",", skiprows=1)[:, 0], rtol=1e-5)
    assert np.sqrt(np.mean((table["ymean"] - files["y_test"]) ** 2)) < 0.5 * files["stats"]["sy"]
    # aleatoric sd in data units: the true noise is 0.1 * 50 = 5
    assert 2.0 < np.median(table["yaleatoric_sd"]) < 12.0
    assert main(["report", str(out), "--test", files["raw_test"], "-q"]) in (0, 1)
    held = json.loads((out / "report.json").read_text())["test"]["y"]
    assert 1.0 < held["rmse"] < 0.5 * files["stats"]["sy"]
    assert held["nlpd"] > 2.0  # about log(5 sqrt(2 pi e)) = 3.0 in data units; below 0 if left standardized
