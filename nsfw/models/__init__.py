"""Models: the model's input tensor in, class probabilities out.

Owns the LiteRT runner and the shipped models' manifest (``runner``), the TensorFlow runner for
bring-your-own Keras models (``tensorflow_runner``) and which models a worker serves
(``registry``). Imports only ``nsfw.settings`` and ``nsfw.errors``; never imaging, pipeline or web.
"""
