from jobu.handlers import handler


@handler("same_name")
def second(ctx, params):
    return 2
