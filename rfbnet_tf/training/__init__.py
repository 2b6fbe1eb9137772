"""Pieces of the training binary (``rfbnet_tf.train``): losses, optimisation, class weights, distribution,
two-stage initialisation and TensorBoard summaries, one concept per module."""
