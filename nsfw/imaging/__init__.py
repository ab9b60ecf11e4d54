"""Imaging: bytes in, the model's input tensor out.

Owns format sniffing and header checks (``headers``), bounded decoding to RGB (``decode``) and the
exact port of nsfwjs's resize (``preprocess``). Imports only ``nsfw.settings`` and
``nsfw.errors``; never fetch, models, pipeline or web.
"""
