"""Recipe fields in project files: defaults filled, every error names its field."""

from __future__ import annotations

import json

import pytest

from playground import project as proj
from playground.project import ProjectError, load, save
from playground.project.format import validate_recipe

GAN = {"type": "gan", "generator": ["g1", "g2"], "discriminator": ["d1", "d2"]}


def test_defaults_are_filled():
    assert validate_recipe({"type": "supervised"}) == {"type": "supervised"}
    assert validate_recipe({"type": "vae"}) == {"type": "vae", "beta": 1.0}
    assert validate_recipe({"type": "vae", "beta": 4, "kl": "kl", "latent": "z"}) == \
        {"type": "vae", "beta": 4.0, "kl": "kl", "latent": "z"}
    assert validate_recipe(GAN) == {**GAN, "d_steps": 1, "g_loss": "non_saturating",
                                    "g_optimizer": {}, "d_optimizer": {}}
    full = {**GAN, "d_steps": 5, "g_loss": "minimax",
            "g_optimizer": {"optimizer": "Adam", "lr": 2e-4, "betas": [0.5, 0.999]},
            "d_optimizer": {"optimizer": "SGD", "lr": 0.01, "momentum": 0.9, "nesterov": True}}
    assert validate_recipe(full) == full


@pytest.mark.parametrize("recipe, field, text", [
    ({"type": "rl"}, "recipe.type", "recipe.type must be one of supervised, vae, gan"),
    ({"type": "supervised", "beta": 1}, "recipe.beta", "not a field of the supervised recipe"),
    ({"type": "vae", "beta": -1}, "recipe.beta", "recipe.beta must be a number ≥ 0, got -1"),
    ({"type": "vae", "beta": "big"}, "recipe.beta", "recipe.beta must be a number ≥ 0"),
    ({"type": "vae", "kl": 3}, "recipe.kl", "recipe.kl must be a node id"),
    ({"type": "gan", "discriminator": ["d"]}, "recipe.generator", "recipe.generator is missing"),
    ({**GAN, "generator": []}, "recipe.generator", "recipe.generator is empty"),
    ({**GAN, "generator": "g1"}, "recipe.generator", "recipe.generator must be a list"),
    ({**GAN, "generator": ["g1", 2]}, "recipe.generator[1]", "must be a node id"),
    ({**GAN, "generator": ["g1", "g1"]}, "recipe.generator[1]", "'g1' is listed twice"),
    ({**GAN, "discriminator": ["d1", "g2"]}, "recipe.discriminator[1]",
     "'g2' is also in recipe.generator"),
    ({**GAN, "d_steps": 0}, "recipe.d_steps", "from 1 to 100, got 0"),
    ({**GAN, "d_steps": 1.5}, "recipe.d_steps", "a whole number"),
    ({**GAN, "g_loss": "wasserstein"}, "recipe.g_loss",
     "one of non_saturating, minimax, got 'wasserstein'"),
    ({**GAN, "g_optimizer": {"lr": 0}}, "recipe.g_optimizer.lr", "a number in (0, 10]"),
    ({**GAN, "d_optimizer": {"optimizer": "Lion"}}, "recipe.d_optimizer.optimizer",
     "one of SGD, Adagrad, RMSprop, Adam, AdamW"),
    ({**GAN, "d_optimizer": {"betas": [0.5, 1.0]}}, "recipe.d_optimizer.betas",
     "two numbers in [0, 1)"),
    ({**GAN, "d_optimizer": {"amsgrad": True}}, "recipe.d_optimizer.amsgrad",
     "not an optimizer setting"),
    ({**GAN, "g_optimizer": []}, "recipe.g_optimizer", "must be an object"),
    ({**GAN, "schedule": "alternate"}, "recipe.schedule", "not a field of the gan recipe"),
])
def test_errors_name_the_field(recipe, field, text):
    with pytest.raises(ProjectError) as err:
        validate_recipe(recipe)
    assert err.value.field == field
    assert text in err.value.message


def test_a_bad_recipe_in_a_file_names_file_and_field(tmp_path):
    raw = json.loads(proj.resolve("gan_ring").read_text())
    raw["recipe"]["g_optimizer"]["betas"] = [0.5]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProjectError) as err:
        load(path)
    assert err.value.field == "recipe.g_optimizer.betas"
    assert str(path) in err.value.message


@pytest.mark.parametrize("preset", ["gan_ring", "vae_digits"])
def test_recipe_presets_round_trip(tmp_path, preset):
    p = load(preset)
    q = load(save(p, tmp_path / f"{preset}.json"))
    assert q.recipe == p.recipe and q.recipe["type"] == preset.split("_")[0]
