"""The quantizer targets and the ids and URLs every rule is published under."""

DISTILLER = "distiller"
TORCH_EAGER = "torch-eager"
TARGETS = (DISTILLER, TORCH_EAGER)

#: The plugin's message id base (pylint reserves 51-99 for plugins; 51, 64 and
#: 81-84 are taken by pylint-django, pylint-pytest and perflint).
BASE_ID = 57

DOCS_URL = "https://github.com/pylint-distiller/pylint-distiller/blob/main/docs/rules/{symbol}.md"
