"""A FinetuneConfig from the options a user gave: a recipe's schedule, or the λ and learning-rate
schedules written out, never both; every option error before any training starts."""
from __future__ import annotations

from wqrc.errors import WqrcError
from wqrc.train.finetune import FinetuneConfig, check_config, parse_lr_drops
from wqrc.train.recipes import recipe as preset
from wqrc.train.schedule import parse_schedule

# the options a recipe sets; giving one beside --recipe is refused
RECIPE_SETS = ("method", "lambda1", "lambda2", "lr_drop")


def config_from_options(recipe: str | None = None, explicit=(), *, lr_drop: str = "", **options) -> FinetuneConfig:
    """``options``: FinetuneConfig's fields by name; ``explicit``: the option names the user set
    (not defaults), to refuse one a recipe also sets."""
    if recipe:
        clash = [f"--{p.replace('_', '-')}" for p in RECIPE_SETS if p in explicit]
        if clash:
            raise WqrcError(f"--recipe {recipe} sets {', '.join(clash)}: give one or the other")
        r = preset(recipe, options.get("epochs", FinetuneConfig.epochs), options.get("lr", FinetuneConfig.lr))
        options.update(method=r.method, lambda1=r.lambda1, lambda2=r.lambda2, ste_from=r.ste_from)
        lr_drops = r.lr_drops
    else:
        parse_schedule(options.get("lambda1", "0"), "--lambda1")
        parse_schedule(options.get("lambda2", "0"), "--lambda2")
        lr_drops = parse_lr_drops(lr_drop)
    cfg = FinetuneConfig(lr_drops=lr_drops, **options)
    check_config(cfg)
    return cfg
