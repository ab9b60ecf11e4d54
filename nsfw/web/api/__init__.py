"""The JSON APIs: the original contract (``predict``: /predict, /health, /ready), ``v1`` (/v1/classify,
/v1/models) and ``compute`` (the Swiss AI Center shape). Each calls the Detector via ``nsfw.web.current``.
"""
