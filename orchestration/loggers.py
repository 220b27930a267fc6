"""A console logger for the `anticipate` CLI: one line per event, tracebacks only with --debug."""

import logging
import sys

import dagster as dg


class _FirstLineFormatter(logging.Formatter):
    """Dagster puts an error's stack trace in the message after the first line; keep the first line."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}  # the event's own message, without run ids
        message = (meta.get("orig_message") or record.getMessage()).split("\n", 1)[0]
        step = meta.get("step_key")
        return f"{self.formatTime(record, '%H:%M:%S')} {record.levelname.lower():<7} {f'{step}: ' if step else ''}{message}"


@dg.logger(
    config_schema={"log_level": dg.Field(str, default_value="INFO"), "tracebacks": dg.Field(bool, default_value=False)},
    description="Concise progress on stderr; full Dagster messages (with tracebacks) when tracebacks is true.",
)
def cli_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("anticipate", level=config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    if not config["tracebacks"]:
        handler.setFormatter(_FirstLineFormatter())
    logger.addHandler(handler)
    return logger
