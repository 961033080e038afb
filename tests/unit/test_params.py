"""driver_info declarations: parsing, every-error-at-once, masking by declaration."""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers import params

SCHEMA = params.Schema(
    params.Param("bmc_address", "BMC address", required=True, type="address"),
    params.Param("bmc_port", "BMC port", type="port", default=623),
    params.Param("bmc_password", "BMC password", secret=True),
    params.Param("bmc_user", "BMC user", required=True),
    params.Param("retries", "Retries", type="int", min=0, max=10, default=3),
    params.Param("verify", "Verify TLS", type="bool", default=True),
    params.Param("mode", "Mode", type="choice", choices=("uefi", "bios")),
    params.Param("delay", "Delay", type="float", min=0),
)


def test_parse_fills_defaults_and_types():
    values = SCHEMA.parse({"bmc_address": "10.0.0.1", "bmc_user": "admin",
                           "bmc_port": "6230", "verify": "no", "mode": "UEFI"})
    assert values["bmc_port"] == 6230
    assert values["retries"] == 3
    assert values["verify"] is False
    assert values["mode"] == "uefi"
    assert values["bmc_password"] is None


def test_every_problem_reported_at_once():
    with pytest.raises(exception.InvalidParameterValue) as info:
        SCHEMA.parse({"bmc_port": "99999", "retries": "lots", "mode": "x"}, node="n1")
    message = str(info.value)
    for fragment in ("bmc_address", "bmc_user", "bmc_port", "retries", "mode", "Node n1"):
        assert fragment in message
    assert len(info.value.errors) == 4  # one "missing" entry + three invalid


def test_only_missing_raises_missing_parameter_value():
    with pytest.raises(exception.MissingParameterValue) as info:
        SCHEMA.parse({})
    assert "bmc_address (BMC address)" in str(info.value)


def test_invalid_secret_value_is_never_echoed():
    schema = params.Schema(params.Param("pw", "password", secret=True, type="int"))
    with pytest.raises(exception.InvalidParameterValue) as info:
        schema.parse({"pw": "hunter2"})
    assert "hunter2" not in str(info.value)
    assert "pw" in str(info.value)


def test_invalid_plain_value_is_echoed():
    with pytest.raises(exception.InvalidParameterValue) as info:
        SCHEMA.parse({"bmc_address": "10.0.0.1", "bmc_user": "a", "bmc_port": "abc"})
    assert "'abc'" in str(info.value)


@pytest.mark.parametrize("value", ["10.0.0.1", "::1", "[fe80::1]", "bmc-1.example.com"])
def test_addresses_accepted(value):
    assert params.parse_address(value)


@pytest.mark.parametrize("value", ["http://10.0.0.1", "10.0.0.1:623", "", "a b", "1.2.3.4.5"])
def test_addresses_rejected(value):
    with pytest.raises(ValueError):
        params.parse_address(value)


def test_mask_uses_declaration_not_key_name():
    schema = params.Schema(params.Param("token", "API token", secret=True),
                           params.Param("password_hint", "not secret"))
    masked = schema.mask({"token": "abc", "password_hint": "the dog", "other": 1})
    assert masked == {"token": params.MASK, "password_hint": "the dog", "other": 1}


def test_near_miss_of_a_declared_field_is_an_error_with_the_fix():
    with pytest.raises(exception.InvalidParameterValue) as info:
        SCHEMA.parse({"bmc_address": "h", "bmc_user": "u", "bmc_pasword": "x"})
    assert "did you mean bmc_password" in str(info.value)
    # Unrelated extra keys (e.g. carried over from Ironic) are fine.
    SCHEMA.parse({"bmc_address": "h", "bmc_user": "u", "deploy_kernel": "k"})


def test_properties_describe_required_optional_secret_default():
    props = SCHEMA.properties()
    assert props["bmc_address"].endswith("Required.")
    assert "Default: 623." in props["bmc_port"]
    assert props["bmc_password"].endswith("Secret.")


def test_declaration_mistakes_fail_loudly():
    with pytest.raises(ValueError):
        params.Param("x", "x", type="nope")
    with pytest.raises(ValueError):
        params.Param("x", "x", required=True, default=1)
    with pytest.raises(ValueError):
        params.Schema(params.Param("x", "x", secret=True)) + params.Schema(params.Param("x", "x"))


@pytest.mark.parametrize("raw,expected", [(True, True), ("1", True), ("off", False)])
def test_bool(raw, expected):
    assert params.parse_bool(raw) is expected


def test_int_rejects_bool_and_fraction():
    p = params.Param("n", "n", type="int")
    for bad in (True, 1.5, "1.5"):
        with pytest.raises(ValueError):
            p.parse(bad)


@pytest.mark.parametrize("raw", ["1_3", "+13", "\u0661\u0663", "13.0", "0x0d", "1 3", ""])
def test_int_text_is_ascii_decimal_digits_only(raw):
    """int() reads 1_3, +13 and Arabic-Indic digits as 13: an outlet typo
    named another outlet (and the PDUDaemon listener read it otherwise)."""
    with pytest.raises(ValueError, match="decimal digits"):
        params.Param("n", "n", type="int").parse(raw)


@pytest.mark.parametrize("raw,expected", [("13", 13), (" 13 ", 13), ("-2", -2), (13, 13)])
def test_int_takes_digits_and_ints(raw, expected):
    assert params.Param("n", "n", type="int").parse(raw) == expected


@pytest.mark.parametrize("raw", ["inf", "-Infinity", "nan", "1e999", float("inf"),
                                 float("nan"), 10 ** 400, "1_0", "\u0661", "0x1", "", True])
def test_float_is_finite_and_decimal(raw):
    """float() reads inf, nan, 1_0 and other scripts' digits: an infinite
    timeout validated, then every action failed with an OverflowError."""
    with pytest.raises(ValueError, match="must be a"):
        params.Param("t", "t", type="float").parse(raw)


@pytest.mark.parametrize("raw,expected", [("2.5", 2.5), (" 3 ", 3.0), ("1e3", 1000.0),
                                          (".5", 0.5), ("-1", -1.0), (7, 7.0), (0.25, 0.25)])
def test_float_takes_decimal_text_and_numbers(raw, expected):
    assert params.Param("t", "t", type="float").parse(raw) == expected


def test_check_refuses_without_echoing_the_value():
    """A check's refusal is shown as its own text, never with the value."""
    def no_credentials(value):
        if "@" in value:
            raise ValueError("must not contain credentials")

    schema = params.Schema(params.Param("url", "A URL", check=no_credentials))
    missing, invalid = schema.errors({"url": "https://admin:s3cret@bmc"})
    assert missing == []
    assert invalid == ["field url must not contain credentials"]
    assert schema.parse({"url": "https://bmc"}) == {"url": "https://bmc"}
    # The type's own errors still show the value, as before.
    _, invalid = params.Schema(params.Param("n", "N", type="int")).errors({"n": "x"})
    assert "(got 'x')" in invalid[0]


def test_undeclared_keys_are_named_with_the_closest_declared_one():
    assert SCHEMA.undeclared(["bmc_address", "bmc_usr", "deploy_kernel"]) == {
        "bmc_usr": "bmc_user", "deploy_kernel": None}
    message = SCHEMA.undeclared_message(["bmc_usr", "deploy_kernel"])
    assert "bmc_usr (did you mean bmc_user?)" in message
    assert "deploy_kernel" in message
    assert "valid fields: %s" % ", ".join(sorted(p.name for p in SCHEMA)) in message
    assert SCHEMA.undeclared_message(["bmc_address"]) is None


# -- cross-field rules and the one driver_info error --------------------------

def _port_needs_address(values, problems):
    if values["bmc_port"] != 623 and not values["bmc_address"]:
        problems.require("bmc_address")
    if values["mode"] == "bios" and values["verify"] is False:
        problems.refuse("fields mode and verify: bios mode needs verify")
    values["endpoint"] = "%s:%s" % (values["bmc_address"], values["bmc_port"])


RULED = SCHEMA + params.Schema(rules=[params.Rule(_port_needs_address,
                                                  fields=("bmc_port",))])


def test_a_rule_reports_beside_the_field_errors_and_derives_values():
    with pytest.raises(exception.InvalidParameterValue) as info:
        RULED.parse({"bmc_user": "u", "bmc_port": "6230", "retries": "x",
                     "mode": "bios", "verify": "no"}, node="n1")
    message = str(info.value)
    assert message.startswith("Node n1: missing required driver_info field(s): "
                              "bmc_address (BMC address)")
    assert "invalid driver_info field retries" in message
    assert "invalid driver_info fields mode and verify: bios mode needs verify" in message
    assert message.endswith(params.NODE_FIX)
    values = RULED.parse({"bmc_user": "u", "bmc_address": "10.0.0.1"})
    assert values["endpoint"] == "10.0.0.1:623"


def test_a_rule_is_skipped_when_a_field_it_names_is_invalid():
    _, problems = RULED.check({"bmc_user": "u", "bmc_port": "99999"})
    assert problems.missing == ["bmc_address"]  # from the field, not the rule
    assert len(problems.invalid) == 1 and "bmc_port" in problems.invalid[0]


def test_the_error_keeps_node_and_fix_apart_so_they_can_be_reworded():
    error = SCHEMA.error(params.Problems(invalid=["field x is bad"]), node="uuid-1")
    assert str(error) == "Node uuid-1: invalid driver_info field x is bad. " + params.NODE_FIX
    reworded = error.reword(node=None, fix="Fix with --driver-info x=<value>.")
    assert type(reworded) is exception.InvalidParameterValue
    assert str(reworded) == "invalid driver_info field x is bad. Fix with --driver-info x=<value>."
    assert reworded.errors == error.errors
    only_missing = params.driver_info_error(params.Problems(missing=["bmc_user"]),
                                            schema=SCHEMA)
    assert isinstance(only_missing, exception.MissingParameterValue)
    assert "bmc_user (BMC user)" in str(only_missing)


def test_attempts_survive_locating_the_error_afterwards():
    error = exception.DriverConnectionError("no answer").gave_up_after(3)
    error.locate(node="n1", controller="ipmi:10.0.0.1:623")
    assert str(error) == "node n1, controller ipmi:10.0.0.1:623: no answer (after 3 attempts)"
    assert exception.DriverActionError("x").gave_up_after(1).message == "x"
