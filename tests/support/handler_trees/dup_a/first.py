from jobu.handlers import handler


@handler("same_name")
def first(ctx, params):
    return 1
