"""Strict rendering (undefined names and unsafe access are errors) and front matter checked field by field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from signoff.prompts import PromptError, PromptFileError, PromptRegistry
from tests.prompts.conftest import write_version

VALID_HEADER = 'name: greeter\nversion: "1"\ndescription: Says hello.\nmodel: anthropic:claude-sonnet-4-5\n'


def test_an_undefined_variable_is_an_error_not_an_empty_string(prompts_copy: PromptRegistry) -> None:
    write_version(prompts_copy, "greeter", "1", "Hello {{ company_name }}, you sell {{ product }}.\n")
    prompt = prompts_copy.load("greeter", version="1")
    assert prompt.render(company_name="Acme", product="anvils") == "Hello Acme, you sell anvils."
    with pytest.raises(PromptError) as raised:
        prompt.render(company_name="Acme")
    assert str(raised.value) == snapshot("prompt greeter@1 does not render: 'product' is undefined")


def test_undefined_attributes_and_filters_of_undefined_fail_too(prompts_copy: PromptRegistry) -> None:
    write_version(prompts_copy, "greeter", "1", "{{ settings.region | upper }}\n")
    with pytest.raises(PromptError, match="has no attribute 'region'"):
        prompts_copy.load("greeter", version="1").render(settings={})


def test_the_sandbox_refuses_unsafe_attribute_access(prompts_copy: PromptRegistry) -> None:
    write_version(prompts_copy, "greeter", "1", "{{ ''.__class__.__mro__[1].__subclasses__() }}\n")
    with pytest.raises(PromptError, match="does not render: access to attribute '__class__'"):
        prompts_copy.load("greeter", version="1").render()


def test_a_template_syntax_error_is_a_prompt_error(prompts_copy: PromptRegistry) -> None:
    write_version(prompts_copy, "greeter", "1", "{% if %}\n")
    with pytest.raises(PromptError, match="does not render: Expected an expression"):
        prompts_copy.load("greeter", version="1").render()


def _write_raw(registry: PromptRegistry, text: str, *, name: str = "greeter", file_name: str = "v1.j2") -> Path:
    path = registry.templates_dir / name / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Hello.\n", "missing front matter (the file must start with a '---' line)", id="none"),
        pytest.param("---\n" + VALID_HEADER + "Hello.\n", "front matter is not closed by a '---' line", id="unclosed"),
        pytest.param(
            "---\nname: [greeter\n---\nHello.\n",
            "front matter is not valid YAML: expected ',' or ']', but got '<stream end>' (line 2, column 15)",
            id="bad-yaml",
        ),
        pytest.param("---\njust text\n---\nHello.\n", "front matter must be 'key: value' lines", id="not-a-mapping"),
        pytest.param(
            '---\nname: greeter\nversion: "1"\n---\nHello.\n', "front matter lacks description, model", id="missing"
        ),
        pytest.param(
            "---\n" + VALID_HEADER + "modle: x\n---\nHello.\n",
            "front matter has unknown field(s) modle; the fields are name, version, description, model",
            id="unknown-field",
        ),
        pytest.param(
            "---\n" + VALID_HEADER.replace("Says hello.", '""') + "---\nHello.\n",
            "front matter field 'description' must be a non-empty string, got ''",
            id="empty-description",
        ),
        pytest.param(
            "---\n" + VALID_HEADER.replace('"1"', '"1.0"') + "---\nHello.\n",
            "version '1.0' must be a whole number from 1",
            id="bad-version",
        ),
        pytest.param(
            "---\n" + VALID_HEADER.replace('"1"', '"2"') + "---\nHello.\n",
            "front matter says greeter@2, so the file must be templates/greeter/v2.j2",
            id="version-disagrees-with-file",
        ),
        pytest.param(
            "---\n" + VALID_HEADER.replace("name: greeter", "name: welcomer") + "---\nHello.\n",
            "front matter says welcomer@1, so the file must be templates/welcomer/v1.j2",
            id="name-disagrees-with-directory",
        ),
        pytest.param(
            "---\n" + VALID_HEADER.replace("name: greeter", "name: Greeter") + "---\nHello.\n",
            "name 'Greeter' must be lower case letters, digits and '_'",
            id="bad-name",
        ),
    ],
)
def test_bad_front_matter_is_a_clear_error(prompts_copy: PromptRegistry, text: str, expected: str) -> None:
    path = _write_raw(prompts_copy, text)
    with pytest.raises(PromptFileError) as raised:
        prompts_copy.load("greeter", version="1")
    assert str(raised.value) == f"{path}: {expected}"


def test_a_bare_number_version_is_accepted(prompts_copy: PromptRegistry) -> None:
    _write_raw(prompts_copy, "---\n" + VALID_HEADER.replace('"1"', "1") + "---\nHello.\n")
    assert prompts_copy.load("greeter", version="1").version == "1"


def test_a_bad_file_in_the_directory_fails_the_listing(prompts_copy: PromptRegistry) -> None:
    _write_raw(prompts_copy, "Hello.\n")
    with pytest.raises(PromptFileError, match="missing front matter"):
        prompts_copy.list()


def test_unknown_prompts_versions_and_labels(prompts_copy: PromptRegistry) -> None:
    with pytest.raises(PromptError, match="prompt 'nope' has no label 'production'"):
        prompts_copy.load("nope")
    with pytest.raises(PromptError, match="prompt 'sales_agent' has no version '9'"):
        prompts_copy.load("sales_agent", version="9")
    with pytest.raises(PromptError, match=re.escape("prompt 'sales_agent' has no version '../x'")):
        prompts_copy.load("sales_agent", version="../x")
    with pytest.raises(PromptError, match="prompt 'sales_agent' has no label 'canary'"):
        prompts_copy.resolve("sales_agent@canary")
    with pytest.raises(PromptError, match="is not a prompt reference"):
        prompts_copy.resolve("sales_agent@")
    with pytest.raises(PromptError, match="is not a prompt reference"):
        prompts_copy.resolve("Sales Agent")
