def run(kind, cfg, rep):
    raise NotImplementedError
