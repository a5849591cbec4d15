"""A handler in a nested package: discovery walks directories recursively."""

from jobu.handlers import handler


@handler("monthly_summary", timeout_seconds=120)
def monthly_summary(ctx, params):
    return {"month": params.get("month")}
