"""Sign names (签名): the brand shown as 【签名】, reviewed before use."""
