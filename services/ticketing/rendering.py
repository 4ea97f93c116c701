"""Reply templates' {{variables}} (TKT-7): which there are, and filling them in. Pure, and apart from
the template aggregate so that the ticket's decisions can render a reply without importing it."""

import re
from collections.abc import Mapping

VARIABLE = re.compile(r"\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}")
VARIABLES = (
    "ticket.id",
    "ticket.subject",
    "ticket.category",
    "ticket.status",
    "ticket.survey_token",
    "customer.name",
    "agent.id",
)


def unknown_variables(body: str) -> list[str]:
    """The {{names}} a template uses that no reply can fill in, each once, in order."""
    return list(dict.fromkeys(name for name in VARIABLE.findall(body) if name not in VARIABLES))


def render(body: str, values: Mapping[str, str]) -> str:
    """The template's text with every {{variable}} filled in (empty when the ticket has no value)."""
    return VARIABLE.sub(lambda match: values.get(match[1], ""), body)
