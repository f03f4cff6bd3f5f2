"""Go-style flags."""

import pytest

from proconsul.cli.flags import FlagError, FlagSet


def flags() -> FlagSet:
    fs = FlagSet("t")
    fs.boolean("dev", False, "")
    fs.string("node", "", "")
    fs.integer("port", 1, "")
    return fs


def test_forms():
    values, rest = flags().parse(["-dev", "--node=a", "-port", "7", "pos", "-x"])
    assert values == {"dev": True, "node": "a", "port": 7}
    assert rest == ["pos", "-x"]


def test_bool_with_value_and_double_dash():
    values, rest = flags().parse(["-dev=false", "--", "-node"])
    assert values["dev"] is False and rest == ["-node"]


@pytest.mark.parametrize("args,message", [
    (["-nope"], "flag provided but not defined: -nope"),
    (["-node"], "flag needs an argument: -node"),
    (["-port=x"], 'invalid value "x" for flag -port'),
])
def test_errors(args, message):
    with pytest.raises(FlagError, match=message):
        flags().parse(args)
