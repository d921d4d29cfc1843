"""Noise-robustness probes on TInt: fine-tune, prompt and filter probes over a noise grid."""
