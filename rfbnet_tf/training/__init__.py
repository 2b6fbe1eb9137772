"""Pieces of the training binary (``rfbnet_tf.train``): the run itself (``trainer.train``; its flags are
``rfbnet_tf.configs``), losses, optimisation, class weights, distribution, two-stage initialisation and TensorBoard
summaries, one concept per module."""
