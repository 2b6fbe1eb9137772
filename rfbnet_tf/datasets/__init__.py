"""datasets of rfbnet_tf."""
