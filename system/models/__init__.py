"""Tokenizer, model factory, generation backends (vllm, hf) and the TRL/DeepSpeed learner."""
