"""Generation backends behind one interface; `vllm` and `hf` are registry entries."""
