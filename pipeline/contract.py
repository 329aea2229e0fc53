"""The template contract: sheet names, headers, value lists and identification keys.

Every stage that writes or reads a förvaltning's workbook takes these names from here, so
the template, the reader, the schemas and the reports cannot drift apart.
"""

from __future__ import annotations

SHEET_INSTRUCTIONS = "Instruktioner"
SHEET_GOALS = "Delmål"
SHEET_ACTIONS = "Åtgärder"
SHEET_LISTS = "Listor"
SHEET_IDENTIFICATION = "Identifiering"
SHEET_CONCERNS = "Berör oss"
"""The consolidated handlingsplan's sheet of Berör oss answers, read back next year."""

# Action columns, in template order; the reader finds them by header text.
ACTION_ID = "Åtgärds-ID"
GOAL = "Delmål"
ACTION = "Åtgärd"
OWNER = "Ansvarig"
START = "Start"
DONE = "Klart"
COST = "Kostnad (kr)"
FUNDING = "Finansiering"
PARTNERS = "Samverkan"
INDICATOR = "Indikator"
TARGET = "Målvärde"
STATUS = "Status"
OUTCOME = "Utfall"
COMMENT = "Kommentar"

ACTION_COLUMNS = (
    ACTION_ID,
    GOAL,
    ACTION,
    OWNER,
    START,
    DONE,
    COST,
    FUNDING,
    PARTNERS,
    INDICATOR,
    TARGET,
    STATUS,
    OUTCOME,
    COMMENT,
)
REQUIRED_ACTION_COLUMNS = (GOAL, ACTION, OWNER, STATUS)
TEXT_ACTION_COLUMNS = (ACTION, OWNER, PARTNERS, INDICATOR, TARGET, OUTCOME, COMMENT)

# The consolidated tables' first column: the förvaltning's code.
DEPARTMENT = "Förvaltning"

# Delmål sheet columns.
GOAL_ID = "Delmål"
GOAL_AREA = "Målområde"
GOAL_TEXT = "Beskrivning"
CONCERNS_US = "Berör oss"
GOAL_COLUMNS = (GOAL_ID, GOAL_AREA, GOAL_TEXT, CONCERNS_US)
YES, NO = "Ja", "Nej"

# Status values; the order is the order reports show them in.
NOT_STARTED = "Ej påbörjad"
IN_PROGRESS = "Pågår"
COMPLETED = "Genomförd"
DELAYED = "Försenad"
CANCELLED = "Avbruten"
STATUSES = (NOT_STARTED, IN_PROGRESS, COMPLETED, DELAYED, CANCELLED)
CLOSED_STATUSES = frozenset({COMPLETED, CANCELLED})

FUNDING_SOURCES = (
    "Ordinarie budget",
    "Statlig ersättning",
    "Integrationsfond",
    "Externa projektmedel",
    "Annan",
)

CONTACT_LABEL = "Kontaktperson"
EMAIL_LABEL = "E-post"
DECISION_DATE_LABEL = "Beslutsdatum"
"""The Instruktioner label of the date the nämnd decided the proposal (empty for a förslag)."""
DECISION_PARAGRAPH_LABEL = "Paragraf"
"""The Instruktioner label of the decision's paragraph in the nämnd's minutes, e.g. "§ 14"."""
INSTRUCTION_INPUT_LABELS = (CONTACT_LABEL, EMAIL_LABEL, DECISION_DATE_LABEL, DECISION_PARAGRAPH_LABEL)
"""The Instruktioner sheet's input cells, each right of its label: the labels stand nowhere else."""

# Identification: stored as custom document properties and on a very hidden sheet.
ID_DEPARTMENT = "handlingsplan_forvaltning"
ID_YEAR = "handlingsplan_ar"
ID_TEMPLATE_VERSION = "handlingsplan_mallversion"
ID_PLAN_VERSION = "handlingsplan_planversion"
IDENTIFICATION_KEYS = (ID_DEPARTMENT, ID_YEAR, ID_TEMPLATE_VERSION, ID_PLAN_VERSION)
