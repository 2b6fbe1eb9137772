"""preprocessing of rfbnet_tf."""
